// C++ runtime features: exceptions thrown and caught across functions (and a
// rethrow), std::string/vector/map, iostream, thread_local counters (TLS via
// %fs), a static constructor, and destructors run at exit.
#include <cstdio>
#include <iostream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

thread_local int tls_counter = 100;
thread_local std::string tls_name = "tls";

struct Registry {
	std::vector<std::string> names;
	Registry() { names.push_back("static-ctor"); }
	~Registry() { std::printf("static dtor ran with %zu names\n", names.size()); }
};

Registry registry;

struct Guard {
	std::string what;
	explicit Guard(const std::string &w) : what(w) {}
	~Guard() { std::cout << "unwound " << what << '\n'; }
};

int
depth(int n)
{
	Guard g("depth " + std::to_string(n));

	tls_counter++;
	if (n == 0)
		throw std::runtime_error("bottom reached");
	return depth(n - 1) + 1;
}

int
parse(const std::string &s)
{
	std::size_t used = 0;
	int v = std::stoi(s, &used);

	if (used != s.size())
		throw std::invalid_argument("trailing junk in '" + s + "'");
	return v;
}

} // namespace

int
main()
{
	std::map<std::string, int> words;
	std::vector<int> values;
	std::ostringstream out;

	registry.names.push_back("main");
	try {
		depth(3);
	} catch (const std::exception &e) {
		std::cout << "caught: " << e.what() << '\n';
	}
	for (const char *s : {"12", "x", "40", "7z", "-3"}) {
		try {
			values.push_back(parse(s));
		} catch (const std::invalid_argument &e) {
			std::cout << "invalid: " << e.what() << '\n';
		}
	}
	try {
		try {
			throw 42;
		} catch (int v) {
			std::cout << "inner caught " << v << ", rethrowing\n";
			throw;
		}
	} catch (int v) {
		std::cout << "outer caught " << v << '\n';
	}

	std::istringstream text("the quick brown fox jumps over the lazy dog the end");
	std::string w;
	while (text >> w)
		words[w]++;
	for (const auto &kv : words)
		out << kv.first << '=' << kv.second << ' ';
	std::cout << out.str() << '\n';

	int sum = 0;
	for (int v : values)
		sum += v;
	std::cout << "values=" << values.size() << " sum=" << sum << '\n';
	tls_name += "-" + std::to_string(tls_counter);
	std::cout << "tls_counter=" << tls_counter << " tls_name=" << tls_name << '\n';
	std::cout << "registry: " << registry.names[0] << ',' << registry.names[1] << std::endl;
	return 0;
}
