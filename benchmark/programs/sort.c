// A recursive sort: quicksort of 1M pseudo-random ints.
#define N 1000000
static int v[N];

static void quicksort(int *a, int lo, int hi) {
  while (lo < hi) {
    int pivot = a[lo + (hi - lo) / 2], i = lo, j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) { int t = a[i]; a[i] = a[j]; a[j] = t; i++; j--; }
    }
    // Recurse into the smaller half, loop on the larger: depth O(log n).
    if (j - lo < hi - i) { quicksort(a, lo, j); lo = i; }
    else { quicksort(a, i, hi); hi = j; }
  }
}

__attribute__((export_name("entry"))) unsigned entry(void) {
  unsigned x = 12345;
  for (int i = 0; i < N; i++) {
    x = x * 1103515245u + 12345u;
    v[i] = (int)(x >> 1);
  }
  quicksort(v, 0, N - 1);
  unsigned check = 0;
  for (int i = 0; i < N; i++) {
    if (i > 0 && v[i - 1] > v[i]) return 0;
    check = check * 31 + (unsigned)v[i];
  }
  return check;
}
