package runid

import "testing"

func TestIDs(t *testing.T) {
	t.Parallel()
	cases := []struct{ got, want string }{
		{Probe("sys", "ab12cd34", 7), "sys:pab12cd34.7"},
		{Probe("sys", "", 7), "sys:p7"},
		{Session("sys", "ab12.3", 64), "sys:sab12.3.64"},
		{RunNow("sys", "key-1"), "sys:run:key-1"},
		{External("sys", "job:42"), "sys:ext:job:42"},
		{Seq("sys", 12), "sys:12"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
		if !OfSystem("sys", c.got) || OfSystem("sy", c.got) || OfSystem("sys2", c.got) {
			t.Errorf("OfSystem wrong for %q", c.got)
		}
	}
}
