package netlimit

import (
	"net"
	"net/netip"
)

// Key returns the key under which a client address is counted: an IPv4
// address (or an IPv4-mapped IPv6 address) as itself, a /32; an IPv6
// address by its /64 prefix, the block one subscriber usually holds, so
// that a client cannot multiply its share by using more addresses of its
// own network. The zone is dropped. The zero Addr gives the zero Prefix.
//
// The connection caps of a Limiter and the mirror's per-client rate
// limits use this one function, so that they agree on who a client is.
func Key(addr netip.Addr) netip.Prefix {
	addr = addr.Unmap().WithZone("")
	if addr.Is4() {
		return netip.PrefixFrom(addr, 32)
	}
	p, err := addr.Prefix(64)
	if err != nil {
		return netip.Prefix{}
	}
	return p
}

// AddrOf returns the IP address of a network address, such as a
// connection's RemoteAddr, unmapped from IPv4-in-IPv6. It reports false
// for an address that holds no IP (a Unix socket, a pipe).
func AddrOf(a net.Addr) (netip.Addr, bool) {
	switch a := a.(type) {
	case nil:
		return netip.Addr{}, false
	case *net.TCPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		return ip.Unmap(), ok
	case *net.UDPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		return ip.Unmap(), ok
	}
	return ParseAddr(a.String())
}

// ParseAddr returns the IP address of "host:port" or of a bare IP
// literal, as an http.Request's RemoteAddr holds, unmapped from
// IPv4-in-IPv6. It reports false for anything else.
func ParseAddr(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	return netip.Addr{}, false
}
