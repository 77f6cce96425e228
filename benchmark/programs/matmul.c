// Float math: dense matrix multiply of doubles.
#define N 160
static double a[N][N], b[N][N], c[N][N];

__attribute__((export_name("entry"))) unsigned entry(void) {
  for (int i = 0; i < N; i++)
    for (int j = 0; j < N; j++) {
      a[i][j] = (double)(i * N + j) / (N * N);
      b[i][j] = (double)(j * N + i) / (N * N) - 0.5;
    }
  for (int round = 0; round < 4; round++) {
    for (int i = 0; i < N; i++)
      for (int j = 0; j < N; j++) {
        double sum = 0;
        for (int k = 0; k < N; k++) sum += a[i][k] * b[k][j];
        c[i][j] = sum;
      }
    for (int i = 0; i < N; i++)
      for (int j = 0; j < N; j++) a[i][j] = c[i][j] * 0.25 + a[i][j] * 0.75;
  }
  double trace = 0;
  for (int i = 0; i < N; i++) trace += c[i][i];
  return (unsigned)(long long)(trace * 1e6);
}
