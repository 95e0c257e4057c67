package wire

// replaced by the statement guard

// policy is what the guard knows of the session a statement comes from.
type policy struct {
	// token: the client authenticated with an API key or JWT.
	token bool
	// usable reports whether the tenant may run as role.
	usable func(role string) bool
}

// refusal is a statement the guard will not let through.
type refusal struct{ Code, Message, Hint string }

// effectKind is what a statement changes in the session.
type effectKind uint8

const (
	effectSet effectKind = iota + 1
	effectReset
	effectResetAll
	effectSetRole
	effectDeallocate
	effectDeallocateAll
	effectDiscardAll
)

// effect is one change a statement makes to the session.
type effect struct {
	Kind        effectKind
	Name, Value string
}

func inspect(sql string, p policy) ([]effect, *refusal) { return nil, nil }
