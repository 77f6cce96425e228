// count.c: the seed's example.c with a bound short enough for a demo
// (example.c counts to 100000000, which takes minutes through JS imports).
__attribute__((import_module("env"), import_name("print")))
extern void print(int);

void entry() {
    for (int i=0; i<100000; ++i) print(i);
}
