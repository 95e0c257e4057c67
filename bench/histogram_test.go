package bench

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestHistogramBucketsCoverEveryValueOnce(t *testing.T) {
	prev := -1
	for _, v := range []uint64{0, 1, 255, 256, 257, 511, 512, 1000, 1 << 20, 1<<40 + 12345, 1<<63 + 5} {
		i := histIndex(v)
		if i < 0 || i >= histBuckets {
			t.Fatalf("value %d maps to bucket %d outside [0,%d)", v, i, histBuckets)
		}
		if i < prev {
			t.Fatalf("bucket index not monotonic at %d", v)
		}
		prev = i
		if up := histUpper(i); up < v || (v >= histSub && float64(up-v) > float64(v)/histHalf) {
			t.Errorf("value %d: bucket upper edge %d is below it or more than 1/%d above", v, up, histHalf)
		}
	}
	for i := 0; i < histBuckets-1; i++ {
		if histIndex(histUpper(i)) != i || histIndex(histUpper(i)+1) != i+1 {
			t.Fatalf("bucket %d edges do not tile: upper %d", i, histUpper(i))
		}
	}
}

func TestHistogramPercentilesOfAUniformDistribution(t *testing.T) {
	var h Histogram
	// 1..100000 µs exactly once each, shuffled: the q-quantile is q*100 ms.
	vals := make([]int, 100000)
	for i := range vals {
		vals[i] = i + 1
	}
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(vals), func(i, j int) { vals[i], vals[j] = vals[j], vals[i] })
	for _, v := range vals {
		h.Record(time.Duration(v) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.9, 90 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {0.999, 99900 * time.Microsecond}} {
		got := h.Quantile(c.q)
		if got < c.want || float64(got-c.want) > float64(c.want)/histHalf {
			t.Errorf("p%v = %v, want %v within +%.2f%%", c.q*100, got, c.want, 100.0/histHalf)
		}
	}
	if h.Max() != 100*time.Millisecond || h.Min() != time.Microsecond || h.Count() != 100000 {
		t.Errorf("max %v min %v count %d", h.Max(), h.Min(), h.Count())
	}
	if m := h.Mean(); m < 50*time.Millisecond || m > 50*time.Millisecond+time.Microsecond {
		t.Errorf("mean %v, want 50.0005ms", m)
	}
}

func TestHistogramPercentilesOfABimodalDistributionAfterMerge(t *testing.T) {
	var a, b Histogram
	for i := 0; i < 990; i++ {
		a.Record(time.Millisecond)
	}
	for i := 0; i < 10; i++ {
		b.Record(time.Second)
	}
	a.Merge(&b)
	if p := a.Quantile(0.99); p > time.Millisecond+time.Millisecond/histHalf {
		t.Errorf("p99 = %v, want ~1ms (990 of 1000 are 1ms)", p)
	}
	if p := a.Quantile(0.991); p < time.Second-time.Second/histHalf {
		t.Errorf("p99.1 = %v, want ~1s", p)
	}
	if a.Max() != time.Second {
		t.Errorf("max %v", a.Max())
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Record(time.Duration(i&0xfffff) * 1000)
	}
}
