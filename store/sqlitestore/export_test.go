package sqlitestore

// CachedReadStatements reports how many statements the read pool's cache
// holds.
func (s *Store) CachedReadStatements() int {
	s.rs.mu.Lock()
	defer s.rs.mu.Unlock()
	return len(s.rs.m)
}
