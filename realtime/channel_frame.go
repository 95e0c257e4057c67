package realtime

import (
	"encoding/json"
	"errors"

	"github.com/kapok-dev/kapok/internal/jsonx"
)

// Serializer versions a client asks for with the vsn query parameter: 1.0.0 sends each
// message as a JSON object, 2.0.0 (realtime-js's default) as a JSON array
// [join_ref, ref, topic, event, payload], and a broadcast a client pushes as a binary frame.
const (
	Vsn1 = "1.0.0"
	Vsn2 = "2.0.0"
)

// Binary frame kinds of realtime-js's 2.0.0 serializer.
const (
	kindUserBroadcastPush = 3 // client → server: a broadcast
	kindUserBroadcast     = 4 // server → client: a broadcast with a binary payload
)

// Payload encodings of a binary broadcast frame.
const (
	encodingBinary = 0
	encodingJSON   = 1
)

// message is one client message, decoded from either serializer.
type message struct {
	JoinRef *string
	Ref     *string
	Topic   string
	Event   string
	Payload json.RawMessage
	// A broadcast the client pushed as a binary frame: its user event and payload.
	userEvent    string
	userPayload  []byte
	userEncoding byte
	binary       bool
}

var errBadFrame = errors.New("malformed message")

// decodeText reads a text frame: an array (2.0.0) or an object (1.0.0), whatever the
// socket's version says, so a client mixing them is still understood.
func decodeText(data []byte) (*message, error) {
	i := jsonx.SkipSpace(data, 0)
	if i >= len(data) {
		return nil, errBadFrame
	}
	m := &message{}
	switch data[i] {
	case '[':
		var a []json.RawMessage
		if err := json.Unmarshal(data, &a); err != nil || len(a) != 5 {
			return nil, errBadFrame
		}
		var err error
		if m.JoinRef, err = optString(a[0]); err != nil {
			return nil, err
		}
		if m.Ref, err = optString(a[1]); err != nil {
			return nil, err
		}
		if json.Unmarshal(a[2], &m.Topic) != nil || json.Unmarshal(a[3], &m.Event) != nil {
			return nil, errBadFrame
		}
		m.Payload = a[4]
	case '{':
		var o struct {
			Topic   string          `json:"topic"`
			Event   string          `json:"event"`
			Payload json.RawMessage `json:"payload"`
			Ref     json.RawMessage `json:"ref"`
			JoinRef json.RawMessage `json:"join_ref"`
		}
		if err := json.Unmarshal(data, &o); err != nil {
			return nil, errBadFrame
		}
		var err error
		if m.JoinRef, err = optString(o.JoinRef); err != nil {
			return nil, err
		}
		if m.Ref, err = optString(o.Ref); err != nil {
			return nil, err
		}
		m.Topic, m.Event, m.Payload = o.Topic, o.Event, o.Payload
	default:
		return nil, errBadFrame
	}
	if m.Event == "" {
		return nil, errBadFrame
	}
	if len(m.Payload) == 0 {
		m.Payload = json.RawMessage("{}")
	}
	return m, nil
}

// optString reads a ref: a string, a number (some clients send numbers) or null.
func optString(raw json.RawMessage) (*string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return &s, nil
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		s = n.String()
		return &s, nil
	}
	return nil, errBadFrame
}

// decodeBinary reads a binary frame: realtime-js sends only a user broadcast push
// (kind 3: join_ref, ref, topic, user event, metadata, encoding, then the payload).
func decodeBinary(data []byte) (*message, error) {
	if len(data) < 7 || data[0] != kindUserBroadcastPush {
		return nil, errBadFrame
	}
	lens := [5]int{int(data[1]), int(data[2]), int(data[3]), int(data[4]), int(data[5])}
	enc := data[6]
	off := 7
	var fields [5][]byte
	for i, n := range lens {
		if off+n > len(data) {
			return nil, errBadFrame
		}
		fields[i] = data[off : off+n]
		off += n
	}
	joinRef, ref := string(fields[0]), string(fields[1])
	m := &message{Topic: string(fields[2]), Event: "broadcast", userEvent: string(fields[3]),
		userPayload: append([]byte(nil), data[off:]...), userEncoding: enc, binary: true}
	if joinRef != "" {
		m.JoinRef = &joinRef
	}
	if ref != "" {
		m.Ref = &ref
	}
	switch enc {
	case encodingJSON:
		if !json.Valid(m.userPayload) {
			return nil, errBadFrame
		}
	case encodingBinary:
	default:
		return nil, errBadFrame
	}
	return m, nil
}

// appendFrame encodes a server message in the socket's serializer version.
func appendFrame(dst []byte, vsn string, joinRef, ref *string, topic, event string, payload []byte) []byte {
	if vsn == Vsn1 {
		dst = append(dst, `{"topic":`...)
		dst = jsonx.AppendString(dst, topic)
		dst = append(dst, `,"event":`...)
		dst = jsonx.AppendString(dst, event)
		dst = append(dst, `,"payload":`...)
		dst = append(dst, payload...)
		dst = append(dst, `,"ref":`...)
		dst = appendOptString(dst, ref)
		dst = append(dst, `,"join_ref":`...)
		dst = appendOptString(dst, joinRef)
		return append(dst, '}')
	}
	dst = append(dst, '[')
	dst = appendOptString(dst, joinRef)
	dst = append(dst, ',')
	dst = appendOptString(dst, ref)
	dst = append(dst, ',')
	dst = jsonx.AppendString(dst, topic)
	dst = append(dst, ',')
	dst = jsonx.AppendString(dst, event)
	dst = append(dst, ',')
	dst = append(dst, payload...)
	return append(dst, ']')
}

func appendOptString(dst []byte, s *string) []byte {
	if s == nil {
		return append(dst, "null"...)
	}
	return jsonx.AppendString(dst, *s)
}

// appendBinaryBroadcast encodes a broadcast with a binary payload as realtime-js's kind 4
// frame: topic, user event and metadata lengths, encoding, then the fields and payload.
func appendBinaryBroadcast(dst []byte, topic, event string, payload []byte) []byte {
	dst = append(dst, kindUserBroadcast, byte(len(topic)), byte(len(event)), 0, encodingBinary)
	dst = append(dst, topic...)
	dst = append(dst, event...)
	return append(dst, payload...)
}

// reply is a phx_reply payload: {"status":…,"response":…}.
func reply(status string, response []byte) []byte {
	if response == nil {
		response = []byte("{}")
	}
	b := append([]byte(`{"status":`), jsonx.AppendString(nil, status)...)
	b = append(b, `,"response":`...)
	b = append(b, response...)
	return append(b, '}')
}

// reason is an error reply's response: {"reason":…}.
func reason(r string) []byte {
	return append(jsonx.AppendString([]byte(`{"reason":`), r), '}')
}
