// An import-heavy loop: one host call per iteration.
__attribute__((import_module("env"), import_name("next")))
extern unsigned next(unsigned);

__attribute__((export_name("entry"))) unsigned entry(void) {
  unsigned acc = 0;
  for (unsigned i = 0; i < 200000; i++) acc = acc * 3 + next(i);
  return acc;
}
