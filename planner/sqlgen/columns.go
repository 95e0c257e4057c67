package sqlgen

import (
	"strings"
)

// Row sub-selects (`SELECT <columns> FROM rel AS tN …`) are written before the expressions
// that read them, so their column lists start as markers and are filled in by columnLists
// once the statement is complete.
const markerByte = '\x00'

func columnsMarker(alias string) string { return string(markerByte) + alias + string(markerByte) }

// withColumns writes list as the select list of the rows sub-select of alias, in place of
// its marker; ok is false unless the marker stands in rows exactly once.
func withColumns(rows, alias, list string) (string, bool) {
	marker := columnsMarker(alias)
	if strings.Count(rows, marker) != 1 {
		return "", false
	}
	return strings.Replace(rows, marker, list, 1), true
}

// columnLists replaces each row sub-select's marker with the columns the statement reads
// through its alias: every `tN."col"` outside string literals. The alias names both the
// relation inside the sub-select and the sub-select itself, so a column read anywhere
// under that alias is a column of the relation; computed columns of the sub-select (whose
// names start with "__") are already in its list and are left out.
func columnLists(sql string) string {
	if strings.IndexByte(sql, markerByte) < 0 {
		return sql
	}
	used := map[string][]string{}
	seen := map[string]bool{}
	inString := false
	for i := 0; i < len(sql); i++ {
		c := sql[i]
		if c == '\'' {
			inString = !inString // '' inside a literal toggles twice
			continue
		}
		if inString || c != '.' || i+1 >= len(sql) || sql[i+1] != '"' {
			continue
		}
		// An alias is a letter followed by digits, right before the dot.
		j := i
		for j > 0 && sql[j-1] >= '0' && sql[j-1] <= '9' {
			j--
		}
		if j == i || j == 0 || !isAliasLetter(sql[j-1]) || (j >= 2 && isIdentByte(sql[j-2])) {
			continue
		}
		alias := sql[j-1 : i]
		end, name := quotedIdent(sql, i+1)
		if end < 0 {
			continue
		}
		i = end - 1
		if strings.HasPrefix(name, "__") {
			continue
		}
		key := alias + "\x00" + name
		if !seen[key] {
			seen[key] = true
			used[alias] = append(used[alias], quoteIdentText(name))
		}
	}
	var b strings.Builder
	for {
		k := strings.IndexByte(sql, markerByte)
		if k < 0 {
			b.WriteString(sql)
			return b.String()
		}
		e := strings.IndexByte(sql[k+1:], markerByte)
		alias := sql[k+1 : k+1+e]
		rest := sql[k+2+e:]
		b.WriteString(sql[:k])
		cols := used[alias]
		for n, c := range cols {
			if n > 0 {
				b.WriteString(", ")
			}
			b.WriteString(alias + "." + c)
		}
		if len(cols) == 0 {
			rest = strings.TrimPrefix(rest, ", ")
		}
		sql = rest
	}
}

func isAliasLetter(c byte) bool { return c >= 'a' && c <= 'z' }

func isIdentByte(c byte) bool {
	return c == '_' || c == '"' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// quotedIdent reads the quoted identifier starting at sql[i] == '"'; it returns the index
// after it and its unquoted name, or -1.
func quotedIdent(sql string, i int) (int, string) {
	var name strings.Builder
	for j := i + 1; j < len(sql); j++ {
		if sql[j] == '"' {
			if j+1 < len(sql) && sql[j+1] == '"' {
				name.WriteByte('"')
				j++
				continue
			}
			return j + 1, name.String()
		}
		name.WriteByte(sql[j])
	}
	return -1, ""
}

func quoteIdentText(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }
