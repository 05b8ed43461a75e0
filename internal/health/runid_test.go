package health

import "testing"

func TestRunIDs(t *testing.T) {
	t.Parallel()
	cases := []struct{ got, want string }{
		{ProbeRunID("sys", "ab12cd34", 7), "sys:pab12cd34.7"},
		{ProbeRunID("sys", "", 7), "sys:p7"},
		{SessionRunID("sys", "ab12.3", 64), "sys:sab12.3.64"},
		{RunNowRunID("sys", "key-1"), "sys:run:key-1"},
		{ExternalRunID("sys", "job:42"), "sys:ext:job:42"},
		{SeqRunID("sys", 12), "sys:12"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
		if !RunOfSystem("sys", c.got) || RunOfSystem("sy", c.got) || RunOfSystem("sys2", c.got) {
			t.Errorf("OfSystem wrong for %q", c.got)
		}
	}
}
