package feed

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// maxDateLen bounds the text ParseDate looks at.
const maxDateLen = 128

// isoLayouts are the RFC 3339 dates and the broken forms of them seen in
// feeds, tried in order. A date without a zone is UTC.
var isoLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04:05",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05 Z07:00",
	"2006-01-02 15:04:05 -0700",
	"2006-01-02 15:04:05 -0700 MST",
	"2006-01-02 15:04:05",
	"2006-01-02 15:04",
	"2006-01-02",
}

// months maps month names and their abbreviations, in English and in the
// languages whose feeds the corpus has seen write them there (Portuguese,
// Spanish, French, German, Italian), to months.
var months = map[string]time.Month{}

func init() {
	for m, names := range map[time.Month]string{
		time.January:   "jan january janeiro enero ene janvier janv januar gennaio gen",
		time.February:  "feb february fevereiro fev febrero février févr fevrier fevr februar febbraio",
		time.March:     "mar march março marco marzo mars märz maerz mär",
		time.April:     "apr april abril abr avril avr aprile",
		time.May:       "may maio mayo mai maggio mag",
		time.June:      "jun june junho junio juin juni giugno giu",
		time.July:      "jul july julho julio juillet juil juli luglio lug",
		time.August:    "aug august agosto ago août aout",
		time.September: "sep sept september setembro set septiembre septembre settembre",
		time.October:   "oct october outubro out octubre octobre oktober okt ottobre ott",
		time.November:  "nov november novembro noviembre novembre",
		time.December:  "dec december dezembro dez diciembre dic décembre déc decembre dezember dicembre",
	} {
		for _, n := range strings.Fields(names) {
			months[n] = m
		}
	}
}

// zones maps the zone abbreviations RFC 822 names, and a few more that
// feeds use, to their offsets in hours. An abbreviation not listed is
// taken as UTC.
var zones = map[string]int{
	"ut": 0, "utc": 0, "gmt": 0, "z": 0,
	"est": -5, "edt": -4, "cst": -6, "cdt": -5, "mst": -7, "mdt": -6, "pst": -8, "pdt": -7,
	"bst": 1, "cet": 1, "cest": 2, "eet": 2, "eest": 3, "msk": 3,
}

var errDate = errors.New("feed: date not understood")

// ParseDate reads a feed's date: RFC 3339 and RFC 822 (RFC 1123, with or
// without weekday and seconds, two-digit years, zone names or offsets),
// and the broken forms of both that feeds carry: a space for the T, no
// zone (taken as UTC), month names in a few languages other than English,
// an unknown zone name (taken as UTC). The result is in UTC.
func ParseDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > maxDateLen {
		return time.Time{}, errDate
	}
	for _, l := range isoLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return check(t)
		}
	}
	return check822(s)
}

func check(t time.Time) (time.Time, error) {
	if t.Year() < 1970 || t.Year() > 9999 {
		return time.Time{}, errDate
	}
	return t.UTC(), nil
}

// check822 reads an RFC 822 date field by field, in any order the fields
// are found: day, month name, year, hh:mm[:ss], zone.
func check822(s string) (time.Time, error) {
	day, year, hour, minute, sec := -1, -1, 0, 0, 0
	var month time.Month
	offset, haveOffset := 0, false
	fields := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return r == ' ' || r == ',' || r == '\t' })
	for _, f := range fields {
		switch {
		case strings.Contains(f, ":") && f[0] >= '0' && f[0] <= '9':
			clock, zone, _ := strings.Cut(f, "+")
			if zone != "" {
				zone = "+" + zone
			} else if i := strings.IndexAny(f, "-z"); i > 0 {
				clock, zone = f[:i], f[i:]
			}
			parts := strings.Split(clock, ":")
			if len(parts) < 2 || len(parts) > 3 {
				return time.Time{}, errDate
			}
			var err error
			if hour, err = num(parts[0], 0, 24); err != nil {
				return time.Time{}, err
			}
			if minute, err = num(parts[1], 0, 59); err != nil {
				return time.Time{}, err
			}
			if len(parts) == 3 {
				sp, _, _ := strings.Cut(parts[2], ".")
				if sec, err = num(sp, 0, 60); err != nil {
					return time.Time{}, err
				}
			}
			if zone != "" {
				o, ok := parseOffset(zone)
				if !ok {
					return time.Time{}, errDate
				}
				offset, haveOffset = o, true
			}
		case f[0] == '+' || f[0] == '-':
			o, ok := parseOffset(f)
			if !ok {
				return time.Time{}, errDate
			}
			offset, haveOffset = o, true
		case f[0] >= '0' && f[0] <= '9':
			n, err := strconv.Atoi(f)
			if err != nil {
				return time.Time{}, errDate
			}
			switch {
			case len(f) == 4 && year < 0:
				year = n
			case len(f) <= 2 && day < 0:
				day = n
			case len(f) <= 2 && year < 0:
				year = 1900 + n
				if n < 50 {
					year = 2000 + n
				}
			default:
				return time.Time{}, errDate
			}
		default:
			w := strings.TrimSuffix(f, ".")
			if m, ok := months[w]; ok {
				month = m // the last: Spanish "mar" is also Tuesday
			} else if h, ok := zones[w]; ok && !haveOffset {
				offset = h * 3600
			}
			// Anything else is a weekday or an unknown zone name.
		}
	}
	if day < 1 || day > 31 || month == 0 || year < 0 {
		return time.Time{}, errDate
	}
	t := time.Date(year, month, day, hour, minute, sec, 0, time.FixedZone("", offset))
	if t.Day() != day { // 31 February
		return time.Time{}, errDate
	}
	return check(t)
}

func num(s string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi || len(s) > 2 {
		return 0, errDate
	}
	return n, nil
}

// parseOffset reads +hhmm, +hh:mm or +hh.
func parseOffset(s string) (int, bool) {
	if s == "z" {
		return 0, true
	}
	sign := 1
	switch s[0] {
	case '-':
		sign = -1
	case '+':
	default:
		return 0, false
	}
	s = strings.ReplaceAll(s[1:], ":", "")
	if len(s) == 2 {
		s += "00"
	}
	if len(s) != 4 {
		return 0, false
	}
	h, err1 := strconv.Atoi(s[:2])
	m, err2 := strconv.Atoi(s[2:])
	if err1 != nil || err2 != nil || h > 14 || m > 59 {
		return 0, false
	}
	return sign * (h*3600 + m*60), true
}
