package manifest

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/checkflow/checkflow/internal/store"
)

// exportKinds writes the channels, maintenance windows and automations of s. Secrets become
// {secretRef: NAME} (CHANNEL_<name>_<key>, AUTOMATION_<name>_ACTION_<i>_SECRET) and their names
// are added to refs. Values equal to the API's defaults are left out.
func exportKinds(s *State, refs map[string]bool) ([]ExportFile, error) {
	var files []ExportFile
	var buf bytes.Buffer
	for i, name := range sortedKeys(s.Channels) {
		ch := s.Channels[name]
		spec := mapping("type", scalar(ch.Type))
		if len(ch.Config) > 0 {
			spec.Content = append(spec.Content, scalar("config"), valueNode(ch.Config, secretName("channel", name), refs))
		}
		if !slices.Equal(ch.Systems, []string{store.AllSystems}) {
			spec.Content = append(spec.Content, scalar("systems"), flow(valueNode(stringsAny(ch.Systems), "", refs)))
		}
		if !slices.Equal(ch.Events, sortedStrings(store.DefaultChannelEvents())) {
			spec.Content = append(spec.Content, scalar("events"), flow(valueNode(stringsAny(ch.Events), "", refs)))
		}
		if ch.RemindEverySeconds > 0 {
			spec.Content = append(spec.Content, scalar("remindEvery"), scalar(DurationText(ch.RemindEverySeconds)))
		}
		if !ch.Enabled {
			spec.Content = append(spec.Content, scalar("enabled"), node(false))
		}
		if err := writeDoc(&buf, i, KindNotificationChannel, mapping("name", scalar(name)), spec); err != nil {
			return nil, err
		}
	}
	files = appendFile(files, "notification-channels.yaml", &buf)
	for i, title := range sortedKeys(s.Windows) {
		w := s.Windows[title]
		spec := mapping()
		if w.Description != "" {
			spec.Content = append(spec.Content, scalar("description"), scalar(w.Description))
		}
		spec.Content = append(spec.Content,
			scalar("systems"), flow(valueNode(stringsAny(w.Systems), "", refs)),
			scalar("startsAt"), timestamp(w.StartsAt),
			scalar("endsAt"), timestamp(w.EndsAt))
		if err := writeDoc(&buf, i, KindMaintenanceWindow, mapping("name", scalar(title)), spec); err != nil {
			return nil, err
		}
	}
	files = appendFile(files, "maintenance-windows.yaml", &buf)
	for i, name := range sortedKeys(s.Automations) {
		a := s.Automations[name]
		spec := mapping()
		if !a.Enabled {
			spec.Content = append(spec.Content, scalar("enabled"), node(false))
		}
		trigger := mapping("event", scalar(a.Event))
		if a.Filter != "" {
			trigger.Content = append(trigger.Content, scalar("filter"), scalar(a.Filter))
		}
		if w := a.Window; w != nil {
			wn := mapping("count", node(w.Count), "minutes", node(w.Minutes))
			if w.Refire != "" {
				wn.Content = append(wn.Content, scalar("refire"), scalar(w.Refire))
			}
			if w.PartitionBy != "" {
				wn.Content = append(wn.Content, scalar("partitionBy"), scalar(w.PartitionBy))
			}
			trigger.Content = append(trigger.Content, scalar("window"), wn)
		}
		spec.Content = append(spec.Content, scalar("trigger"), trigger)
		if a.CooldownSeconds > 0 {
			spec.Content = append(spec.Content, scalar("cooldownSeconds"), node(a.CooldownSeconds))
		}
		actions := &yaml.Node{Kind: yaml.SequenceNode}
		for j, act := range a.Actions {
			an := mapping("type", scalar(act.Type))
			add := func(k, v string) {
				if v != "" {
					an.Content = append(an.Content, scalar(k), scalar(v))
				}
			}
			add("channel", act.Channel)
			add("title", act.Title)
			add("body", act.Body)
			add("system", act.System)
			add("healthcheck", act.Check)
			if act.Type == "set_assignment_enabled" {
				an.Content = append(an.Content, scalar("enabled"), node(act.Enabled))
			}
			add("url", act.URL)
			if act.Secret != nil {
				an.Content = append(an.Content, scalar("secret"), valueNode(act.Secret, secretName("automation", name, "action", fmt.Sprint(j), "secret"), refs))
			}
			actions.Content = append(actions.Content, an)
		}
		spec.Content = append(spec.Content, scalar("actions"), actions)
		if err := writeDoc(&buf, i, KindAutomation, mapping("name", scalar(name)), spec); err != nil {
			return nil, err
		}
	}
	files = appendFile(files, "automations.yaml", &buf)
	return files, nil
}

// appendFile adds buf as a file when it has content, and resets it.
func appendFile(files []ExportFile, name string, buf *bytes.Buffer) []ExportFile {
	if buf.Len() > 0 {
		files = append(files, ExportFile{Name: name, Data: bytes.Clone(buf.Bytes())})
	}
	buf.Reset()
	return files
}

func timestamp(t time.Time) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!timestamp", Value: t.UTC().Format(time.RFC3339Nano)}
}

func sortedStrings(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
