// A tight array loop: the sieve of Eratosthenes, repeated.
#define N 1000000
static unsigned char composite[N + 1];

__attribute__((export_name("entry"))) unsigned entry(void) {
  unsigned count = 0;
  for (int round = 0; round < 10; round++) {
    for (unsigned i = 0; i <= N; i++) composite[i] = 0;
    count = 0;
    for (unsigned i = 2; i <= N; i++) {
      if (composite[i]) continue;
      count++;
      for (unsigned j = i + i; j <= N; j += i) composite[j] = 1;
    }
  }
  return count;
}
