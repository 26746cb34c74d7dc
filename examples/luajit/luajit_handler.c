/*
 * Request handlers written in Lua: Debian's LuaJIT, embedded as it is, JIT
 * on, inside the sandbox.  main() loads the script named by argv[1] (it
 * must be in the program's allowed_paths), lets it warm up, and waits for
 * requests; each request calls the script's global handle(method, url,
 * arg), which returns a status, a content type and a body.  The JIT's
 * traces, compiled before the image was taken, are shared by every fork.
 *
 *   tinykvm-run --allow-read examples/luajit --get /hello \
 *       build/examples/luajit/luajit_handler examples/luajit/handler.lua
 */
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "tinykvm/guest.h"

static lua_State *L;

static void
fail(const char *what)
{
	const char *msg = lua_tostring(L, -1);
	char text[512];
	int n;

	n = snprintf(text, sizeof text, "%s: %s\n", what, msg ? msg : "?");
	tinykvm_respond(500, "text/plain", text, n > 0 ? (size_t)n : 0);
}

static void
on_request(const struct tinykvm_request *req)
{
	const char *type, *body;
	size_t len;
	int status;

	lua_getglobal(L, "handle");
	lua_pushstring(L, req->method);
	lua_pushstring(L, req->url);
	lua_pushstring(L, req->arg);
	if (lua_pcall(L, 3, 3, 0) != 0) {
		fail("handle() failed");
		return;
	}
	status = (int)lua_tointeger(L, -3);
	type = lua_tostring(L, -2);
	body = lua_tolstring(L, -1, &len);
	(void)tinykvm_header_add("X-Handler", "luajit");
	tinykvm_respond(status, type, body ? body : "", body ? len : 0);
}

int
main(int argc, char **argv)
{
	L = luaL_newstate();
	if (L == NULL || argc < 2) {
		fprintf(stderr, "usage: luajit_handler SCRIPT.lua\n");
		return (2);
	}
	luaL_openlibs(L);
	if (luaL_dofile(L, argv[1]) != 0) {
		fprintf(stderr, "%s: %s\n", argv[1], lua_tostring(L, -1));
		return (1);
	}
	tinykvm_on_get(on_request);
	tinykvm_on_post(on_request);
	tinykvm_wait_for_requests();
	return (0);
}
