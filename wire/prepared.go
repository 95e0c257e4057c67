package wire

import (
	"container/list"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/jackc/pgx/v5/pgproto3"
)

// A client's named statements belong to its session, not to a server connection: a
// session may run each transaction on another one. Each statement is prepared on a server
// connection under a name derived from its text and parameter types, so sessions that
// prepare the same statement share it there, and a server connection that lacks it when a
// Bind or Describe names it is given it first.

// stmt is a statement a client prepared.
type stmt struct {
	query   string
	oids    []uint32
	server  string   // its name on server connections
	effects []effect // what executing it changes in the session
}

func newStmt(query string, oids []uint32, effects []effect) *stmt {
	return &stmt{query: query, oids: append([]uint32(nil), oids...), server: serverStmtName(query, oids), effects: effects}
}

// serverStmtName is "kw_" and 16 hex digits of a hash of the text and parameter types.
func serverStmtName(query string, oids []uint32) string {
	h := sha256.New()
	var b [4]byte
	for _, o := range oids {
		binary.BigEndian.PutUint32(b[:], o)
		h.Write(b[:])
	}
	binary.BigEndian.PutUint32(b[:], uint32(len(oids)))
	h.Write(b[:])
	h.Write([]byte(query))
	var sum [sha256.Size]byte
	return "kw_" + hex.EncodeToString(h.Sum(sum[:0])[:8])
}

// parse is the statement as a Parse message under name.
func (st *stmt) parse(name string) *pgproto3.Parse {
	return &pgproto3.Parse{Name: name, Query: st.query, ParameterOIDs: st.oids}
}

// preparedSet is the statements a server connection holds, least recently used first out.
type preparedSet struct {
	max   int
	names map[string]*list.Element
	lru   list.List // front: most recently used
}

func newPreparedSet(max int) preparedSet {
	if max <= 0 {
		max = 1000
	}
	return preparedSet{max: max, names: map[string]*list.Element{}}
}

// has reports whether name is prepared, marking it used.
func (p *preparedSet) has(name string) bool {
	el, ok := p.names[name]
	if ok {
		p.lru.MoveToFront(el)
	}
	return ok
}

// add records name; when the set is full it returns the least recently used name, which
// the caller closes on the server.
func (p *preparedSet) add(name string) (evict string) {
	if el, ok := p.names[name]; ok {
		p.lru.MoveToFront(el)
		return ""
	}
	if len(p.names) >= p.max {
		if el := p.lru.Back(); el != nil {
			evict = el.Value.(string)
			p.lru.Remove(el)
			delete(p.names, evict)
		}
	}
	p.names[name] = p.lru.PushFront(name)
	return evict
}

func (p *preparedSet) remove(name string) {
	if el, ok := p.names[name]; ok {
		p.lru.Remove(el)
		delete(p.names, name)
	}
}

// lookup is the client's statement name ("" = the unnamed one), or nil.
func (s *session) lookup(name string) *stmt {
	if name == "" {
		return s.unnamed
	}
	return s.stmts[name]
}

func missingStatement(name string) *refusal {
	if name == "" {
		return &refusal{Code: "26000", Message: "unnamed prepared statement does not exist"}
	}
	return &refusal{Code: "26000", Message: fmt.Sprintf("prepared statement %q does not exist", name)}
}

// parseLocked handles a client Parse on the held server connection.
func (s *session) parseLocked(m *pgproto3.Parse, st *stmt) {
	sc := s.sc
	if m.Name == "" {
		s.unnamed = st
		sc.unnamed = st.server
		s.sendServer(m, len(m.Query))
		s.push(pending{kind: 'P', st: st, server: st.server, unnamed: true})
		return
	}
	s.stmts[m.Name] = st
	s.e.met.Prepare("client")
	if sc.prep.has(st.server) {
		s.push(pending{kind: 'P', how: howSynthetic, name: m.Name, st: st})
		return
	}
	s.prepareServer(st, howForward, m.Name)
	s.e.met.Prepare("server")
}

// prepareServer sends Parse of st under its server name, closing the least recently used
// statement first when the connection holds as many as it may.
func (s *session) prepareServer(st *stmt, how uint8, client string) {
	sc := s.sc
	if evict := sc.prep.add(st.server); evict != "" {
		s.sendServer(&pgproto3.Close{ObjectType: 'S', Name: evict}, 0)
		s.push(pending{kind: 'C', how: howSwallow, server: evict})
	}
	s.sendServer(st.parse(st.server), len(st.query))
	s.push(pending{kind: 'P', how: how, name: client, st: st, server: st.server})
}

// ensureLocked makes sure the held server connection has st (named: under its server
// name; unnamed: in its unnamed slot), parsing it there first if not.
func (s *session) ensureLocked(st *stmt, unnamed bool) {
	sc := s.sc
	if unnamed {
		if sc.unnamed != st.server {
			sc.unnamed = st.server
			s.sendServer(st.parse(""), len(st.query))
			s.push(pending{kind: 'P', how: howSwallow, st: st, server: st.server, unnamed: true})
			s.e.met.Prepare("reprepare")
		}
		return
	}
	if !sc.prep.has(st.server) {
		s.prepareServer(st, howSwallow, "")
		s.e.met.Prepare("reprepare")
	}
}

// undoLocked reverts what sending e assumed, when the server skipped or failed it.
func (s *session) undoLocked(e *pending) {
	sc := s.sc
	switch e.kind {
	case 'P':
		if e.how == howRefused {
			return
		}
		if e.unnamed {
			if sc != nil && sc.unnamed == e.server {
				sc.unnamed = ""
			}
			if e.how == howForward && s.unnamed == e.st {
				s.unnamed = nil
			}
			return
		}
		if e.how != howSynthetic && sc != nil {
			sc.prep.remove(e.server)
		}
		if e.name != "" && s.stmts[e.name] == e.st {
			delete(s.stmts, e.name)
		}
	case 'C':
		switch {
		case e.how == howSwallow && sc != nil:
			// The eviction did not happen: the server still has it.
			sc.prep.add(e.server)
		case e.how == howSynthetic && e.st != nil:
			if e.name == "" {
				if s.unnamed == nil {
					s.unnamed = e.st
				}
			} else if _, ok := s.stmts[e.name]; !ok {
				s.stmts[e.name] = e.st
			}
		}
	}
}
