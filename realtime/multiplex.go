package realtime

import (
	"fmt"
	"strconv"

	"github.com/kapok-dev/kapok/internal/jsonx"
)

// splitArray splits the JSON array v into exactly n elements.
func splitArray(v []byte, n int) ([][]byte, error) {
	out := make([][]byte, 0, n)
	_, err := jsonx.EachElement(v, jsonx.SkipSpace(v, 0), func(_ int, el []byte) error {
		out = append(out, el)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) != n {
		return nil, fmt.Errorf("realtime: %d results for %d subscribers", len(out), n)
	}
	return out, nil
}

// takeCursor removes planner.CursorKey from each row object of the JSON array rows and
// returns the rows without it and the last row's cursor object (nil when rows is empty).
func takeCursor(rows []byte, key string) (out, last []byte, n int, err error) {
	quoted := strconv.Quote(key)
	out = make([]byte, 0, len(rows))
	out = append(out, '[')
	_, err = jsonx.EachElement(rows, jsonx.SkipSpace(rows, 0), func(i int, el []byte) error {
		if i > 0 {
			out = append(out, ',')
		}
		n++
		out = append(out, '{')
		first := true
		_, err := jsonx.EachMember(el, jsonx.SkipSpace(el, 0), func(k, v []byte) error {
			if string(k) == quoted {
				last = v
				return nil
			}
			if !first {
				out = append(out, ',')
			}
			first = false
			out = append(out, k...)
			out = append(out, ':')
			out = append(out, v...)
			return nil
		})
		out = append(out, '}')
		return err
	})
	return append(out, ']'), last, n, err
}
