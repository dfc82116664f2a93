package glob

// bitAutomaton runs the same automaton as Pattern.run with one bit per
// state, so that a byte moves all states in a few word operations (the
// "shift-and" technique). Bit i set means "atoms[:i] have matched".
type bitAutomaton struct {
	advance [256]uint64 // states whose atom consumes byte c and moves on
	stay    [256]uint64 // states whose atom consumes byte c and stays (stars)
	star    uint64      // states whose atom is a star: may be skipped
	accept  uint64      // the final state
}

func newBitAutomaton(atoms []atom) *bitAutomaton {
	b := &bitAutomaton{accept: 1 << len(atoms)}
	for s, a := range atoms {
		bit := uint64(1) << s
		switch a.op {
		case opLit:
			b.advance[a.c] |= bit
		case opAny1:
			for c := range b.advance {
				if c != '/' {
					b.advance[c] |= bit
				}
			}
		case opStar:
			b.star |= bit
			for c := range b.stay {
				if c != '/' {
					b.stay[c] |= bit
				}
			}
		case opStar2:
			b.star |= bit
			for c := range b.stay {
				b.stay[c] |= bit
			}
		}
	}
	return b
}

func (b *bitAutomaton) run(name string) bool {
	cur := b.closure(1)
	for i := 0; i < len(name); i++ {
		c := name[i]
		cur = (cur&b.advance[c])<<1 | cur&b.stay[c]
		if cur == 0 {
			return false
		}
		cur = b.closure(cur)
	}
	return cur&b.accept != 0
}

// closure adds the states reached by letting stars match nothing; a chain
// of stars ("*?*" has two) needs one round per star in it.
func (b *bitAutomaton) closure(s uint64) uint64 {
	for {
		next := s | (s&b.star)<<1
		if next == s {
			return s
		}
		s = next
	}
}
