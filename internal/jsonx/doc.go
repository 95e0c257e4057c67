// Package jsonx scans and writes JSON bytes without decoding them into Go values: it
// finds where values, strings, members and elements begin and end, classifies them,
// unescapes string contents into a caller's buffer and appends string literals. Request
// bodies, GraphQL variables, REST payloads and responses are read with it in place, so
// the hot path neither allocates nor copies what it only has to delimit or forward.
//
// The scanner accepts exactly what encoding/json's Valid accepts (RFC 8259, strings
// checked for escapes and control characters but not for UTF-8), and refuses values
// nested more than MaxDepth arrays and objects deep, so hostile input cannot make it
// work without bound. Unquote reads strings as json.Unmarshal does.
//
// It must not decode into Go maps, structs or interfaces (encoding/json is there for
// that), keep state between calls, or import anything of Kapok's: it is a leaf that
// the planner, the proxy and the load tester all use.
package jsonx
