package server

// gitOpsRoutes lists this file's endpoints (appended to routeTable).
func (s *Server) gitOpsRoutes() []route { return nil }
