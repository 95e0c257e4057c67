package gqlschema

import (
	"strings"

	"github.com/kapok-dev/kapok/planner/catalog"
)

// ValidName reports whether s can be used as a GraphQL name by this package:
// /^[_A-Za-z][_0-9A-Za-z]*$/ and not reserved for introspection ("__" prefix).
func ValidName(s string) bool {
	if s == "" || strings.HasPrefix(s, "__") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// validEnumValue: enum values are names that are not true, false or null.
func validEnumValue(s string) bool {
	return ValidName(s) && s != "true" && s != "false" && s != "null"
}

// TableBaseName is the GraphQL base name of a relation: its name in the default
// schema, "<schema>_<name>" in any other exposed schema.
func TableBaseName(defaultSchema, schema, name string) string {
	if schema == defaultSchema {
		return name
	}
	return schema + "_" + name
}

// Aggregate functions of "<t>_aggregate_fields" other than count, in Hasura's order.
var aggregateFuncs = []string{"avg", "max", "min", "stddev", "stddev_pop", "stddev_samp", "sum", "var_pop", "var_samp", "variance"}

// TableNames holds every name the relation may get. All are filled in (and reserved
// against other tables) whether or not the relation gets that type or root field: use
// Schema.Type, QueryField and MutationField, or Table's flags, to know what exists.
type TableNames struct {
	Base string // object type and list root field, e.g. "billing_invoice"

	// Root fields.
	ByPK, Aggregate                                      string
	Insert, InsertOne                                    string
	Update, UpdateByPK, UpdateMany                       string
	Delete, DeleteByPK                                   string
	AggregateType, AggregateFields                       string
	BoolExp, OrderBy, SelectColumn                       string
	PKColumnsInput, InsertInput, ArrRelInsertInput       string
	ObjRelInsertInput, OnConflict, Constraint            string
	UpdateColumn, SetInput, IncInput, Updates            string
	AppendInput, PrependInput, DeleteKeyInput            string
	DeleteElemInput, DeleteAtPathInput                   string
	MutationResponse, AggregateOrderBy, AggregateBoolExp string
	// Streaming subscriptions: root field "<t>_stream" and its cursor inputs.
	Stream, StreamCursorInput, StreamCursorValueInput string
	// FuncFields["sum"] = "<t>_sum_fields"; FuncOrderBy["sum"] = "<t>_sum_order_by".
	FuncFields, FuncOrderBy map[string]string
	// Grouped aggregates (the "groups" field of "<t>_aggregate", see groups.go);
	// FuncHaving["sum"] = "<t>_sum_having".
	GroupByColumn, Group, GroupKeys, GroupKeysOrderBy, GroupOrderBy, AggregateHaving string
	FuncHaving                                                                       map[string]string
}

// allTableNames returns the full set of names for base (before pruning what the
// table does not get).
func allTableNames(base string) TableNames {
	n := TableNames{
		Base: base, ByPK: base + "_by_pk", Aggregate: base + "_aggregate",
		Insert: "insert_" + base, InsertOne: "insert_" + base + "_one",
		Update: "update_" + base, UpdateByPK: "update_" + base + "_by_pk", UpdateMany: "update_" + base + "_many",
		Delete: "delete_" + base, DeleteByPK: "delete_" + base + "_by_pk",
		AggregateType: base + "_aggregate", AggregateFields: base + "_aggregate_fields",
		BoolExp: base + "_bool_exp", OrderBy: base + "_order_by", SelectColumn: base + "_select_column",
		PKColumnsInput: base + "_pk_columns_input", InsertInput: base + "_insert_input",
		ArrRelInsertInput: base + "_arr_rel_insert_input", ObjRelInsertInput: base + "_obj_rel_insert_input",
		OnConflict: base + "_on_conflict", Constraint: base + "_constraint",
		UpdateColumn: base + "_update_column", SetInput: base + "_set_input", IncInput: base + "_inc_input",
		Updates: base + "_updates", AppendInput: base + "_append_input", PrependInput: base + "_prepend_input",
		DeleteKeyInput: base + "_delete_key_input", DeleteElemInput: base + "_delete_elem_input",
		DeleteAtPathInput: base + "_delete_at_path_input", MutationResponse: base + "_mutation_response",
		AggregateOrderBy: base + "_aggregate_order_by", AggregateBoolExp: base + "_aggregate_bool_exp",
		Stream: base + "_stream", StreamCursorInput: base + "_stream_cursor_input",
		StreamCursorValueInput: base + "_stream_cursor_value_input",
		FuncFields:             map[string]string{}, FuncOrderBy: map[string]string{},
		GroupByColumn: base + "_group_by_column", Group: base + "_aggregate_group",
		GroupKeys: base + "_aggregate_group_keys", GroupKeysOrderBy: base + "_aggregate_group_keys_order_by",
		GroupOrderBy: base + "_aggregate_group_order_by", AggregateHaving: base + "_aggregate_having",
		FuncHaving: map[string]string{},
	}
	for _, f := range aggregateFuncs {
		n.FuncFields[f] = base + "_" + f + "_fields"
		n.FuncOrderBy[f] = base + "_" + f + "_order_by"
		n.FuncHaving[f] = base + "_" + f + "_having"
	}
	return n
}

// ScalarClass says which operators and aggregates a scalar supports.
type ScalarClass uint8

const (
	ClassOther   ScalarClass = iota // comparison operators only; no max/min (Hasura's "unknown" types, time, bytea, inet...)
	ClassNumeric                    // int2/4/8, float4/8, numeric, money: sum avg stddev var… max min, _inc
	ClassString                     // text, varchar, bpchar, citext: pattern operators, max min
	ClassOrdered                    // date/time-like, uuid, enums, ltree: max min
	ClassBoolean                    // bool: no max/min; bool_and/bool_or aggregate predicates
	ClassJSONB                      // jsonb: containment and key operators, _append…
	ClassJSON                       // json
)

// ScalarFor maps a column's (element) type to the GraphQL scalar Hasura v2 uses and
// its class. Unknown types map to a scalar named after the type; ok is false when
// that name is not a valid GraphQL name.
func ScalarFor(c *catalog.Column) (name string, class ScalarClass, ok bool) {
	t := c.TypeName
	if c.IsEnum {
		return t, ClassOrdered, ValidName(t)
	}
	switch t {
	case "int4", "serial", "serial4":
		return "Int", ClassNumeric, true
	case "int2", "smallserial", "serial2":
		return "smallint", ClassNumeric, true
	case "int8", "bigserial", "serial8":
		return "bigint", ClassNumeric, true
	case "float4":
		return "Float", ClassNumeric, true
	case "float8":
		return "float8", ClassNumeric, true
	case "numeric":
		return "numeric", ClassNumeric, true
	case "money":
		return "money", ClassNumeric, true
	case "bool":
		return "Boolean", ClassBoolean, true
	case "text", "varchar":
		return "String", ClassString, true
	case "bpchar", "citext":
		return t, ClassString, true
	case "date", "timestamp", "timestamptz", "timetz", "uuid", "ltree", "lquery", "ltxtquery":
		return t, ClassOrdered, true
	case "jsonb":
		return "jsonb", ClassJSONB, true
	case "json":
		return "json", ClassJSON, true
	}
	return t, ClassOther, ValidName(t)
}

func (c ScalarClass) numeric() bool { return c == ClassNumeric }
func (c ScalarClass) comparable() bool {
	return c == ClassNumeric || c == ClassString || c == ClassOrdered
}

// builtinScalars need no declaration in SDL.
var builtinScalars = map[string]bool{"Int": true, "Float": true, "String": true, "Boolean": true, "ID": true}
