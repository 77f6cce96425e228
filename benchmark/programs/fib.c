// Recursive calls: naive Fibonacci.
static unsigned fib(unsigned n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

__attribute__((export_name("entry"))) unsigned entry(void) { return fib(30); }
