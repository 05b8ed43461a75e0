package store

// GitOps provenance kinds of checkflow's own configuration objects (gitops_provenance has no
// CHECK on kind beyond its length, so no migration is needed for new kinds).
const (
	// ProvenanceKindNotificationChannel is the GitOps provenance kind of notification channels
	// (entity id = the channel's id), for SetProvenance / IsManaged like the reference's kinds.
	ProvenanceKindNotificationChannel = "NotificationChannel"
	// ProvenanceKindMaintenanceWindow is the GitOps provenance kind of maintenance windows
	// (entity id = the window's id), for SetProvenance / IsManaged like the reference's kinds.
	ProvenanceKindMaintenanceWindow = "MaintenanceWindow"
)
