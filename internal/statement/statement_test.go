package statement

import (
	"errors"
	"testing"
)

func TestGatherer(t *testing.T) {
	row := func(s string) [][]byte {
		if s == "NULL" {
			return [][]byte{nil}
		}
		return [][]byte{[]byte(s)}
	}
	cases := []struct {
		name     string
		kind     Result
		rows     []string
		affected int64
		want     string
		err      bool
	}{
		{"a value is its one row", Value, []string{`{"a":1}`}, 0, `{"a":1}`, false},
		{"a value without a row is a shape error", Value, nil, 0, "", true},
		{"a value of two rows is a shape error", Value, []string{"1", "2"}, 0, "", true},
		{"an array joins its rows", Array, []string{"1", "NULL", `"x"`}, 0, `[1,null,"x"]`, false},
		{"an empty array is []", Array, nil, 0, `[]`, false},
		{"one of no rows is null", One, nil, 0, `null`, false},
		{"one of one row is that row", One, []string{`{"id":2}`}, 0, `{"id":2}`, false},
		{"one of two rows is a shape error", One, []string{"1", "2"}, 0, "", true},
		{"an envelope counts its rows in front", Envelope, []string{`{"a":1}`, `{"a":2}`}, 0, `2,,[{"a":1},{"a":2}]`, false},
		{"an empty envelope", Envelope, nil, 0, `0,,[]`, false},
		{"a count is the command's rows affected", Count, []string{"x"}, 7, `7,,[]`, false},
		{"an unknown kind is a shape error", Result(99), nil, 0, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := []byte("keep")
			var g Gatherer
			dst = g.Begin(c.kind, dst)
			var err error
			for _, r := range c.rows {
				if dst, err = g.Row(dst, row(r)); err != nil {
					break
				}
			}
			if err == nil {
				dst, err = g.End(dst, c.affected)
			}
			if c.err {
				if !errors.Is(err, ErrShape) {
					t.Fatalf("err %v, want ErrShape", err)
				}
				return
			}
			if err != nil || string(dst) != "keep"+c.want {
				t.Fatalf("got %q, %v; want %q", dst, err, "keep"+c.want)
			}
		})
	}
	t.Run("a row of two columns is a shape error", func(t *testing.T) {
		var g Gatherer
		dst := g.Begin(Array, nil)
		if _, err := g.Row(dst, [][]byte{[]byte("1"), []byte("2")}); !errors.Is(err, ErrShape) {
			t.Fatalf("err %v", err)
		}
	})
}

func TestSplitEnvelope(t *testing.T) {
	cases := []struct {
		in       string
		ok       bool
		n, total int64
		body     string
	}{
		{`2,,[1,2]`, true, 2, -1, `[1,2]`},
		{`0,13,[]`, true, 0, 13, `[]`},
		{`1,1,{"a":"1,2"}`, true, 1, 1, `{"a":"1,2"}`},
		{`,,[]`, false, 0, 0, ""},
		{`1,x,[]`, false, 0, 0, ""},
		{`12`, false, 0, 0, ""},
		{`[1]`, false, 0, 0, ""},
	}
	for _, c := range cases {
		e, ok := SplitEnvelope([]byte(c.in))
		if ok != c.ok || (ok && (e.N != c.n || e.Total != c.total || string(e.Body) != c.body)) {
			t.Errorf("%q: %+v %v", c.in, e, ok)
		}
	}
}

func TestGatherAllocatesNothing(t *testing.T) {
	dst := make([]byte, 0, 256)
	rows := [][]byte{[]byte(`{"id":1}`)}
	n := testing.AllocsPerRun(100, func() {
		var g Gatherer
		d := g.Begin(Envelope, dst[:0])
		d, _ = g.Row(d, rows)
		d, _ = g.Row(d, rows)
		_, _ = g.End(d, 0)
	})
	if n != 0 {
		t.Fatalf("%v allocations", n)
	}
}
