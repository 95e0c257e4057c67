package bench

import (
	"bufio"
	"bytes"
	"errors"
	"strconv"
	"strings"
)

// cpuTicks is the machine's CPU time, all CPUs together, in clock ticks: idle (idle and
// iowait: no runnable thread), steal (taken by the hypervisor for other guests: a noisy
// host) and the rest, busy.
type cpuTicks struct {
	busy, idle, steal uint64
}

func (t cpuTicks) sub(o cpuTicks) cpuTicks {
	return cpuTicks{busy: t.busy - o.busy, idle: t.idle - o.idle, steal: t.steal - o.steal}
}

func (t cpuTicks) add(o cpuTicks) cpuTicks {
	return cpuTicks{busy: t.busy + o.busy, idle: t.idle + o.idle, steal: t.steal + o.steal}
}

// shares are idle's and steal's percentages of the time counted (0, 0 when none was).
func (t cpuTicks) shares() (idle, steal float64) {
	all := t.busy + t.idle + t.steal
	if all == 0 {
		return 0, 0
	}
	return 100 * float64(t.idle) / float64(all), 100 * float64(t.steal) / float64(all)
}

// parseCPULine reads the "cpu" line of /proc/stat: user nice system idle iowait irq
// softirq steal, then guest and guest_nice, which user and nice already include.
func parseCPULine(stat []byte) (cpuTicks, error) {
	sc := bufio.NewScanner(bytes.NewReader(stat))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] != "cpu" {
			continue
		}
		if len(f) < 9 {
			return cpuTicks{}, errors.New("/proc/stat: a cpu line of fewer than 8 counters")
		}
		var v [8]uint64
		for i := range v {
			n, err := strconv.ParseUint(f[i+1], 10, 64)
			if err != nil {
				return cpuTicks{}, errors.New("/proc/stat: " + err.Error())
			}
			v[i] = n
		}
		return cpuTicks{busy: v[0] + v[1] + v[2] + v[5] + v[6], idle: v[3] + v[4], steal: v[7]}, nil
	}
	return cpuTicks{}, errors.New("/proc/stat: no cpu line")
}
