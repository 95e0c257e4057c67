package pgtool

import (
	"slices"
	"testing"
)

func TestThePasswordLeavesTheURLForTheEnvironment(t *testing.T) {
	args, env := Connect("postgres://kapok:s3cret@db:5432/app?sslmode=require", []string{"-X"})
	if want := []string{"-d", "postgres://kapok@db:5432/app?sslmode=require", "-X"}; !slices.Equal(args, want) {
		t.Errorf("args %q, want %q", args, want)
	}
	if !slices.Equal(env, []string{"PGPASSWORD=s3cret"}) {
		t.Errorf("env %q", env)
	}
	if args, env := Connect("postgres://kapok@db/app", nil); env != nil || args[1] != "postgres://kapok@db/app" {
		t.Errorf("without a password: %q %q", args, env)
	}
}
