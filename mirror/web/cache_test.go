package web

import "testing"

func TestLRU(t *testing.T) {
	c := newLRU[int, string](3, 100)
	c.put(1, "a", 10)
	c.put(2, "b", 10)
	c.put(3, "c", 10)
	c.get(1) // 2 is now the least recently used
	c.put(4, "d", 10)
	if _, ok := c.get(2); ok {
		t.Error("2 not evicted by length")
	}
	for _, k := range []int{1, 3, 4} {
		if _, ok := c.get(k); !ok {
			t.Errorf("%d evicted", k)
		}
	}
	c.put(5, "e", 85) // cost 10+10+10+85 > 100: evicts until it fits
	if c.cost > 100 || c.len() > 3 {
		t.Errorf("cost %d, len %d", c.cost, c.len())
	}
	if _, ok := c.get(5); !ok {
		t.Error("5 not stored")
	}
	c.put(6, "f", 101)
	if _, ok := c.get(6); ok {
		t.Error("entry above the budget stored")
	}
	c.put(5, "E", 5)
	if v, _ := c.get(5); v != "E" || c.cost > 100 {
		t.Errorf("update: %q, cost %d", v, c.cost)
	}
	c.remove(5)
	if _, ok := c.get(5); ok {
		t.Error("5 not removed")
	}
}

func TestCleanPath(t *testing.T) {
	for p, want := range map[string]bool{
		"/": true, "/a/b/": true, "/a/b": true, "/a/b.c/.d": true,
		"": false, "a": false, "//": false, "/a//b": false, "/a/./b": false, "/a/../b": false, "/..": false, "/a/.": false, "/a\\b": false, "/a\x00": false,
	} {
		if got := cleanPath(p); got != want {
			t.Errorf("cleanPath(%q) = %v, want %v", p, got, want)
		}
	}
}
