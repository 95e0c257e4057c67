package catalog

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// versionFormat is hashed in front of the encoding; bump it when the meaning of the
// encoding changes without its bytes changing.
const versionFormat = "kapok-catalog-v1\n"

// computeVersion hashes the canonical encoding of s: its JSON encoding (which leaves OIDs
// out) with Version blank and each column's Position replaced by its ordinal. attnum
// keeps gaps where columns were dropped, so a table rebuilt by a rollback would
// otherwise differ from the original although its columns are the same, in the same
// order. Everything else in the model is a name, a text Postgres prints the same for the
// same DDL, or derived from those; the slices are sorted, so the encoding is canonical.
func computeVersion(s *Schema) string {
	c := *s
	c.Version = ""
	c.Tables = make([]*Table, len(s.Tables))
	for i, t := range s.Tables {
		tc := *t
		tc.Columns = make([]*Column, len(t.Columns))
		for j, col := range t.Columns {
			cc := *col
			cc.Position = j + 1
			tc.Columns[j] = &cc
		}
		c.Tables[i] = &tc
	}
	b, err := json.Marshal(&c)
	if err != nil {
		// The model holds only strings, bools, ints and slices of them.
		panic("catalog: encode model: " + err.Error())
	}
	h := sha256.New()
	h.Write([]byte(versionFormat))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}
