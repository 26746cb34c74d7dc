-- A request handler in Lua (examples/luajit/luajit_handler.c runs it).
-- Loaded once; warm() runs the hot loop until LuaJIT has compiled it, before
-- the image is taken, so every request starts with machine code.

local function collatz_steps(n)
	local steps = 0
	while n ~= 1 do
		if n % 2 == 0 then n = n / 2 else n = 3 * n + 1 end
		steps = steps + 1
	end
	return steps
end

local function longest(limit)
	local best, at = 0, 1
	for i = 1, limit do
		local s = collatz_steps(i)
		if s > best then best, at = s, i end
	end
	return at, best
end

longest(20000)		-- warm-up: the traces exist before the first request

function handle(method, url, arg)
	local limit = tonumber(url:match("n=(%d+)")) or 1000
	if limit > 1000000 then
		return 400, "text/plain", "n is at most 1000000\n"
	end
	local at, steps = longest(limit)
	local on = jit.status()
	return 200, "text/plain", string.format(
	    "%s %s: below %d, %d takes %d steps; jit %s\n",
	    method, url, limit, at, steps, on and "on" or "off")
end
