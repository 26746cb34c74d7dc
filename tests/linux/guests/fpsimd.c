/*
 * Floating point and SIMD state: double and long double (x87) arithmetic,
 * MXCSR rounding modes, printf %f/%g/%e/%a, SSE2 intrinsics and GCC vector
 * extensions. Exactly rounded results are printed with %a; results of libm
 * functions (whose implementation glibc picks by CPUID) only to 9 digits.
 */
#include <emmintrin.h>
#include <fenv.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef int32_t v4si __attribute__((vector_size(16)));
typedef double v2df __attribute__((vector_size(16)));
typedef uint16_t v16hu __attribute__((vector_size(32)));

static volatile double vol_third = 1.0;

static void
doubles(void)
{
	double x = 0.0, h = 1.0 / 1024;
	int i;

	for (i = 0; i < 1000; i++)
		x += h * (double)i * 0.1;
	printf("sum=%a %.17g\n", x, x);
	printf("sqrt2=%a %.15f\n", sqrt(2.0), sqrt(2.0));
	printf("fma=%a\n", fma(0.1, 10.0, -1.0));
	printf("div=%a %e\n", 22.0 / 7.0, 22.0 / 7.0);
	printf("g: %g %g %g %g\n", 1e-300 * 1e-300, 1.0 / 3.0, 123456789.0, -0.0);
	printf("inf/nan: %f %f %g\n", HUGE_VAL, -HUGE_VAL, fabs(nan("")));
	printf("subnormal=%a\n", 4.9406564584124654e-324 * 3);
	printf("libm: exp(1)=%.9g log(10)=%.9g sin(1)=%.9g cos(1)=%.9g\n",
	    exp(1.0), log(10.0), sin(1.0), cos(1.0));
	printf("libm: pow(2,0.5)=%.9g atan2(1,2)=%.9g tanh(0.5)=%.9g\n",
	    pow(2.0, 0.5), atan2(1.0, 2.0), tanh(0.5));
	printf("round: %.0f %.0f %.0f %.0f\n", 0.5, 1.5, 2.5, -2.5);
	printf("ints: %ld %lld %d\n", lrint(2.5), llround(-2.5), (int)-3.99);
}

static void
rounding(void)
{
	double up, down, near;

	/* The empty asm pins each division between its two fesetround calls. */
	fesetround(FE_UPWARD);
	up = vol_third / 3.0;
	__asm__ volatile("" : "+x"(up));
	fesetround(FE_DOWNWARD);
	down = vol_third / 3.0;
	__asm__ volatile("" : "+x"(down));
	fesetround(FE_TONEAREST);
	near = vol_third / 3.0;
	__asm__ volatile("" : "+x"(near));
	printf("mxcsr rounding: up=%a down=%a near=%a\n", up, down, near);
}

static void
long_doubles(void)
{
	long double x = 1.0L;
	int i;

	for (i = 1; i <= 25; i++)
		x *= (long double)i;
	printf("25! as long double=%.0Lf\n", x);
	printf("1/3 long double=%.20Lf\n", 1.0L / 3.0L);
	printf("sqrtl(2)=%La\n", sqrtl(2.0L));
}

static void
sse2(void)
{
	__m128i a = _mm_set_epi32(4, -3, 2, -1);
	__m128i b = _mm_set_epi32(1000, 2000, 3000, 4000);
	__m128i c = _mm_add_epi32(a, b);
	__m128i d = _mm_mullo_epi16(c, _mm_set1_epi16(3));
	__m128i bytes = _mm_set_epi8(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
	    14, 15, 16);
	__m128i sad = _mm_sad_epu8(bytes, _mm_setzero_si128());
	__m128i shuf = _mm_shuffle_epi32(c, _MM_SHUFFLE(0, 1, 2, 3));
	__m128d pd = _mm_sqrt_pd(_mm_set_pd(9.0, 2.0));
	__m128i conv = _mm_cvtpd_epi32(_mm_set_pd(-2.5, 3.5));
	int32_t out[4];
	double dout[2];
	uint64_t sad_out[2];

	_mm_storeu_si128((__m128i *)out, c);
	printf("add_epi32: %d %d %d %d\n", out[0], out[1], out[2], out[3]);
	_mm_storeu_si128((__m128i *)out, d);
	printf("mullo_epi16: %08x %08x %08x %08x\n", (unsigned)out[0],
	    (unsigned)out[1], (unsigned)out[2], (unsigned)out[3]);
	_mm_storeu_si128((__m128i *)sad_out, sad);
	printf("sad_epu8: %llu %llu\n", (unsigned long long)sad_out[0],
	    (unsigned long long)sad_out[1]);
	_mm_storeu_si128((__m128i *)out, shuf);
	printf("shuffle: %d %d %d %d\n", out[0], out[1], out[2], out[3]);
	_mm_storeu_pd(dout, pd);
	printf("sqrt_pd: %a %a\n", dout[0], dout[1]);
	_mm_storeu_si128((__m128i *)out, conv);
	printf("cvtpd_epi32: %d %d\n", out[0], out[1]);
	printf("movemask: %x\n", _mm_movemask_epi8(_mm_cmpgt_epi8(bytes,
	    _mm_set1_epi8(8))));
}

static void
vectors(void)
{
	v4si a = {1, 2, 3, 4}, b = {10, 20, 30, 40};
	v4si c = a * b + (b >> 1) - a;
	v2df x = {1.5, -2.25}, y = {0.5, 4.0};
	v2df z = x * y + x / y;
	v16hu h, acc = {0};
	uint16_t hsum = 0;
	int i;

	for (i = 0; i < 16; i++)
		h[i] = (uint16_t)(i * 4097);
	for (i = 0; i < 100; i++)
		acc = acc * 3 + h;
	for (i = 0; i < 16; i++)
		hsum = (uint16_t)(hsum ^ (acc[i] + i));
	printf("v4si: %d %d %d %d\n", c[0], c[1], c[2], c[3]);
	printf("v2df: %a %a\n", z[0], z[1]);
	printf("v16hu: %04x\n", hsum);
}

static void
memory_ops(void)
{
	static char big[1 << 16];
	char small[100];
	size_t i;
	unsigned sum = 0;

	for (i = 0; i < sizeof big; i++)
		big[i] = (char)('a' + i % 26);
	memmove(big + 3, big, sizeof big - 3);
	big[sizeof big - 1] = 0;
	memcpy(small, big + 1000, sizeof small - 1);
	small[sizeof small - 1] = 0;
	for (i = 0; i < sizeof big; i += 97)
		sum = sum * 33 + (unsigned char)big[i];
	printf("strlen=%zu memcmp=%d strchr=%td sum=%08x\n", strlen(big),
	    memcmp(big, big + 26, 1000) == 0, strchr(small, 'q') - small, sum);
}

int
main(void)
{
	doubles();
	rounding();
	long_doubles();
	sse2();
	vectors();
	memory_ops();
	return 0;
}
