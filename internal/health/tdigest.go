package health

import (
	"math"
	"sort"
)

// t-digest parameters (see the package documentation).
const (
	// TDigestCompression is δ of the k1 scale function; a compressed digest
	// holds at most about δ centroids.
	TDigestCompression = 100
	// TDigestMaxCentroids is the centroid count above which a digest is compressed.
	TDigestMaxCentroids = 500
)

// Centroid is one t-digest centroid.
type Centroid struct {
	Mean  float64
	Count float64
}

// TDigest is a small deterministic, mergeable t-digest (a merging digest
// with the k1 scale function). The zero value is an empty digest ready to use.
// Its methods do not allocate randomness or depend on anything but their inputs.
type TDigest struct {
	centroids []Centroid // sorted by mean, distinct means
	total     float64
}

// TDigestFromState rebuilds a digest from its serialised form
// [mean1, n1, mean2, n2, …]. Pairs with a non-finite mean or a
// non-positive or non-finite count are skipped, as is a trailing odd value.
func TDigestFromState(state []float64) *TDigest {
	d := &TDigest{}
	for i := 0; i+1 < len(state); i += 2 {
		d.Add(state[i], state[i+1])
	}
	return d
}

// State serialises the digest as [mean1, n1, mean2, n2, …] in ascending mean
// order (nil when empty).
func (d *TDigest) State() []float64 {
	if d == nil || len(d.centroids) == 0 {
		return nil
	}
	out := make([]float64, 0, 2*len(d.centroids))
	for _, c := range d.centroids {
		out = append(out, c.Mean, c.Count)
	}
	return out
}

// Count is the total weight added.
func (d *TDigest) Count() float64 {
	if d == nil {
		return 0
	}
	return d.total
}

// Centroids returns a copy of the centroids in ascending mean order.
func (d *TDigest) Centroids() []Centroid {
	if d == nil {
		return nil
	}
	return append([]Centroid(nil), d.centroids...)
}

// Add adds value x with weight w (ignored unless x is finite and w > 0 and finite).
// Equal values share one centroid.
func (d *TDigest) Add(x, w float64) {
	if math.IsNaN(x) || math.IsInf(x, 0) || !(w > 0) || math.IsInf(w, 0) {
		return
	}
	i := sort.Search(len(d.centroids), func(i int) bool { return d.centroids[i].Mean >= x })
	if i < len(d.centroids) && d.centroids[i].Mean == x {
		d.centroids[i].Count += w
	} else {
		d.centroids = append(d.centroids, Centroid{})
		copy(d.centroids[i+1:], d.centroids[i:])
		d.centroids[i] = Centroid{Mean: x, Count: w}
	}
	d.total += w
	if len(d.centroids) > TDigestMaxCentroids {
		d.Compress()
	}
}

// Merge adds every centroid of o into d.
func (d *TDigest) Merge(o *TDigest) {
	if o == nil {
		return
	}
	for _, c := range o.centroids {
		d.Add(c.Mean, c.Count)
	}
}

// Compress merges neighbouring centroids as far as the k1 scale function
// allows (each merged centroid spans at most one unit of k).
func (d *TDigest) Compress() {
	if len(d.centroids) <= 1 {
		return
	}
	total := d.total
	out := make([]Centroid, 0, TDigestCompression)
	cur := d.centroids[0]
	before := 0.0 // weight left of cur
	limit := total * kInv(kScale(0)+1)
	for _, c := range d.centroids[1:] {
		if before+cur.Count+c.Count <= limit {
			n := cur.Count + c.Count
			cur.Mean += (c.Mean - cur.Mean) * c.Count / n
			cur.Count = n
			continue
		}
		before += cur.Count
		out = append(out, cur)
		limit = total * kInv(kScale(before/total)+1)
		cur = c
	}
	out = append(out, cur)
	d.centroids = out
}

func kScale(q float64) float64 {
	if q <= 0 {
		q = 0
	}
	if q >= 1 {
		q = 1
	}
	return TDigestCompression / (2 * math.Pi) * math.Asin(2*q-1)
}

func kInv(k float64) float64 {
	if k >= TDigestCompression/4.0 {
		return 1
	}
	return (math.Sin(k*2*math.Pi/TDigestCompression) + 1) / 2
}

// Quantile returns the q-quantile (0 ≤ q ≤ 1), interpolating linearly
// between centroid centres like the reference's JavaScript library; NaN for
// an empty digest.
func (d *TDigest) Quantile(q float64) float64 {
	if d == nil || len(d.centroids) == 0 || math.IsNaN(q) {
		return math.NaN()
	}
	cs := d.centroids
	if len(cs) == 1 || q <= 0 {
		return cs[0].Mean
	}
	if q >= 1 {
		return cs[len(cs)-1].Mean
	}
	h := q * d.total
	cum := 0.0
	var prevCenter, prevMean float64
	for i, c := range cs {
		center := cum + c.Count/2
		if h <= center {
			if i == 0 || h == center {
				return c.Mean
			}
			return prevMean + (h-prevCenter)*(c.Mean-prevMean)/(center-prevCenter)
		}
		prevCenter, prevMean = center, c.Mean
		cum += c.Count
	}
	return cs[len(cs)-1].Mean
}
