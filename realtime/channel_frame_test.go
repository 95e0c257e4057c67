package realtime

import (
	"encoding/json"
	"testing"
)

func TestFramesDecodeBothSerializersAndTheBinaryBroadcast(t *testing.T) {
	cases := []struct {
		name, frame string
		binary      bool
		topic, ev   string
		ref         string
	}{
		{"an array frame (2.0.0)", `["1","2","realtime:a","phx_join",{"config":{}}]`, false, "realtime:a", "phx_join", "2"},
		{"an object frame (1.0.0)", `{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"7"}`, false, "phoenix", "heartbeat", "7"},
		{"numeric refs are read as strings", `[null,5,"phoenix","heartbeat",{}]`, false, "phoenix", "heartbeat", "5"},
		{"a binary broadcast push", "\x03\x01\x01\x0a\x01\x00\x01" + "3" + "4" + "realtime:b" + "e" + `{"x":1}`, true, "realtime:b", "broadcast", "4"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var m *message
			var err error
			if c.binary {
				m, err = decodeBinary([]byte(c.frame))
			} else {
				m, err = decodeText([]byte(c.frame))
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Topic != c.topic || m.Event != c.ev || m.Ref == nil || *m.Ref != c.ref {
				t.Fatalf("%+v", m)
			}
		})
	}
	for _, bad := range []string{``, `[]`, `[1,2,3,4]`, `["1","2",3,"e",{}]`, `{"topic":"x"}`, `"str"`, `[null,{},"t","e",{}]`} {
		if _, err := decodeText([]byte(bad)); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
	for _, bad := range []string{"", "\x03", "\x00\x00\x00\x00\x00\x00\x01", "\x03\x09\x00\x00\x00\x00\x01ab", "\x03\x00\x00\x00\x00\x00\x01{", "\x03\x00\x00\x00\x00\x00\x07"} {
		if _, err := decodeBinary([]byte(bad)); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
}

func TestFramesEncodeInTheSocketsVersion(t *testing.T) {
	ref := "3"
	if got := string(appendFrame(nil, Vsn2, nil, &ref, "phoenix", "phx_reply", reply("ok", nil))); got != `[null,"3","phoenix","phx_reply",{"status":"ok","response":{}}]` {
		t.Fatal(got)
	}
	got := appendFrame(nil, Vsn1, &ref, nil, "realtime:a", "presence_state", []byte(`{}`))
	var o map[string]any
	if err := json.Unmarshal(got, &o); err != nil || o["join_ref"] != "3" || o["ref"] != nil || o["topic"] != "realtime:a" {
		t.Fatalf("%s", got)
	}
}

func TestPresenceMetasKeepTheirPhxRefOverThePayloads(t *testing.T) {
	pm := &presenceMeta{key: "k", ref: "r1", prev: "r0", payload: json.RawMessage(` { "phx_ref": "forged", "a": 1 } `)}
	var o map[string]any
	if err := json.Unmarshal(pm.json(nil), &o); err != nil || o["phx_ref"] != "r1" || o["phx_ref_prev"] != "r0" || o["a"] != 1.0 {
		t.Fatalf("%s", pm.json(nil))
	}
	pm.payload = json.RawMessage(`{}`)
	if got := string(pm.json(nil)); got != `{"phx_ref":"r1","phx_ref_prev":"r0"}` {
		t.Fatal(got)
	}
}

func FuzzDecodeFrame(f *testing.F) {
	f.Add([]byte(`["1","2","realtime:a","phx_join",{"config":{}}]`), false)
	f.Add([]byte(`{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"7"}`), false)
	f.Add([]byte("\x03\x01\x01\x0a\x01\x00\x0134realtime:be{}"), true)
	f.Add([]byte("\x03\x00\x00\x01\x01\x00\x00tex\x00\x01"), true)
	f.Fuzz(func(t *testing.T, data []byte, binary bool) {
		var m *message
		var err error
		if binary {
			m, err = decodeBinary(data)
		} else {
			m, err = decodeText(data)
		}
		if err != nil {
			return
		}
		if m.Event == "" {
			t.Fatalf("decoded a message without an event from %q", data)
		}
		if !m.binary && !json.Valid(m.Payload) {
			t.Fatalf("invalid payload %q", m.Payload)
		}
	})
}
