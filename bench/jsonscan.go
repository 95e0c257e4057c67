package bench

import (
	"errors"

	"github.com/kapok-dev/kapok/internal/jsonx"
)

var errFound = errors.New("member found")

// jsonMember returns the raw bytes of member key of the JSON object in doc, without decoding
// anything else: the generator uses it to spot a GraphQL "errors" member in 200 responses and
// the baseline to read operationName and variables. Malformed input before the member gives
// ok == false; what follows it is not read.
func jsonMember(doc []byte, key string) (raw []byte, ok bool) {
	_, err := jsonx.EachMember(doc, jsonx.SkipSpace(doc, 0), func(k, v []byte) error {
		if string(k[1:len(k)-1]) == key {
			raw = v
			return errFound
		}
		return nil
	})
	return raw, err == errFound
}

// graphQLFailed reports whether a GraphQL response body carries a non-null "errors" member.
func graphQLFailed(body []byte) bool {
	v, ok := jsonMember(body, "errors")
	return ok && string(v) != "null"
}
