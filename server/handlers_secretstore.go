package server

// secretStoreRoutes lists this file's endpoints (appended to routeTable).
func (s *Server) secretStoreRoutes() []route { return nil }
