package wal

// CloseFile closes l's file under it, so that the next write fails as a
// failing disk's would. Tests only.
func CloseFile(l *Log) error { return l.f.Close() }
