package rest

import "testing"

func TestTheProfilePublicNamesTheDefaultSchema(t *testing.T) {
	cases := []struct {
		name    string
		profile string
		exposed []string
		want    string
		code    string
	}{
		{"public names the first schema when none is called public", "public", []string{"demo", "extra"}, "demo", ""},
		{"public names the schema public when one is exposed", "public", []string{"demo", "public"}, "public", ""},
		{"another schema is chosen by its name", "extra", []string{"demo", "extra"}, "extra", ""},
		{"an unknown profile is refused", "nope", []string{"demo"}, "", CodeSchema},
		{"public with no schema exposed is refused", "public", nil, "", CodeSchema},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &ApiRequest{Profile: c.profile}
			got, err := r.ResolveSchema(c.exposed)
			if c.code != "" {
				if e, ok := err.(*Error); !ok || e.Code != c.code || e.Status != 406 {
					t.Fatalf("got %q, %v; want %s", got, err, c.code)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %q, %v; want %q", got, err, c.want)
			}
		})
	}
}
