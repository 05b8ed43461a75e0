// Package activities holds every side effect checkflow's workflows perform: probing, persisting
// to PostgreSQL, dispatching events. Workflows call them by the names declared in package
// workflows; Register adds them all to a worker.
package activities
