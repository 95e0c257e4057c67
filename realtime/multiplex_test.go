package realtime

import "testing"

func TestTakeCursorStripsTheCursorMember(t *testing.T) {
	rows, last, n, err := takeCursor([]byte(`[{"a":1,"__kapok_cursor":{"id":1}},{"a":"x,\"__kapok_cursor\":","__kapok_cursor":{"id":2}}]`), "__kapok_cursor")
	if err != nil || n != 2 || string(last) != `{"id":2}` || string(rows) != `[{"a":1},{"a":"x,\"__kapok_cursor\":"}]` {
		t.Fatalf("%s %s %d %v", rows, last, n, err)
	}
	rows, last, n, err = takeCursor([]byte(`[]`), "__kapok_cursor")
	if err != nil || n != 0 || last != nil || string(rows) != `[]` {
		t.Fatalf("%s %s %d %v", rows, last, n, err)
	}
}
