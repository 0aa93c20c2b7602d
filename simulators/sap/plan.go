package sap

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/goccy/go-yaml"
)

// DeliveryPlan is a list of goods receipts that the simulator posts as 101
// material documents when its simulated clock reaches their time, so that
// stock arrives while testers watch. The file format is described in
// deploy/campaign/saxony-2021/sap-delivery-plan.yaml.
type DeliveryPlan struct {
	// Start is the simulated time at start-up (zero: DefaultStart).
	Start time.Time
	// Deliveries in the order of the file; they are posted in time order.
	Deliveries []Delivery
}

// Delivery is one goods receipt for a purchase order: one material
// document with one item per material and batch.
type Delivery struct {
	At              time.Time
	Plant           string // SN00..SN13
	StorageLocation string // default KL01
	PurchaseOrder   string // default 45 followed by the delivery's number
	Supplier        string
	DeliveryNote    string // the header's ReferenceDocument
	Text            string // the header's MaterialDocumentHeaderText
	Items           []DeliveryItem
}

// DeliveryItem is one material and batch of a delivery.
type DeliveryItem struct {
	Material     string
	Batch        string
	Quantity     int64 // doses
	Expires      time.Time
	Manufactured time.Time
}

//go:embed sap-delivery-plan.yaml
var defaultPlanYAML []byte

// DefaultDeliveryPlan is the embedded copy of
// deploy/campaign/saxony-2021/sap-delivery-plan.yaml.
func DefaultDeliveryPlan() (*DeliveryPlan, error) {
	p, err := ParseDeliveryPlan(defaultPlanYAML)
	if err != nil {
		return nil, fmt.Errorf("embedded delivery plan: %w", err)
	}
	return p, nil
}

// LoadDeliveryPlan reads and checks a delivery plan file.
func LoadDeliveryPlan(path string) (*DeliveryPlan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p, err := ParseDeliveryPlan(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

type planFile struct {
	Start      string `yaml:"start"`
	Deliveries []struct {
		At              string `yaml:"at"`
		Plant           string `yaml:"plant"`
		StorageLocation string `yaml:"storage_location"`
		PurchaseOrder   string `yaml:"purchase_order"`
		Supplier        string `yaml:"supplier"`
		DeliveryNote    string `yaml:"delivery_note"`
		Text            string `yaml:"text"`
		Items           []struct {
			Material     string `yaml:"material"`
			Batch        string `yaml:"batch"`
			Quantity     int64  `yaml:"quantity"`
			Expires      string `yaml:"expires"`
			Manufactured string `yaml:"manufactured"`
		} `yaml:"items"`
	} `yaml:"deliveries"`
}

// ParseDeliveryPlan parses and checks a delivery plan. Unknown fields are
// errors, so that a typo does not silently drop a delivery.
func ParseDeliveryPlan(data []byte) (*DeliveryPlan, error) {
	var f planFile
	if err := yaml.UnmarshalWithOptions(data, &f, yaml.Strict()); err != nil {
		return nil, fmt.Errorf("delivery plan: %w", err)
	}
	p := &DeliveryPlan{}
	var errs []error
	parse := func(where, field, v string, required bool) time.Time {
		if v == "" {
			if required {
				errs = append(errs, fmt.Errorf("%s: %s is missing", where, field))
			}
			return time.Time{}
		}
		t, err := parseLiteralTime(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %s %q: want 2021-01-04 or 2021-01-04T07:00:00Z", where, field, v))
		}
		return t
	}
	p.Start = parse("delivery plan", "start", f.Start, false)
	for i, fd := range f.Deliveries {
		where := fmt.Sprintf("delivery %d", i+1)
		d := Delivery{
			At: parse(where, "at", fd.At, true), Plant: fd.Plant, StorageLocation: fd.StorageLocation,
			PurchaseOrder: fd.PurchaseOrder, Supplier: fd.Supplier, DeliveryNote: fd.DeliveryNote, Text: fd.Text,
		}
		for j, fi := range fd.Items {
			iw := fmt.Sprintf("%s item %d", where, j+1)
			d.Items = append(d.Items, DeliveryItem{
				Material: fi.Material, Batch: fi.Batch, Quantity: fi.Quantity,
				Expires: parse(iw, "expires", fi.Expires, true), Manufactured: parse(iw, "manufactured", fi.Manufactured, false),
			})
		}
		p.Deliveries = append(p.Deliveries, d)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// Validate reports every delivery that the simulator would refuse to post.
func (p *DeliveryPlan) Validate() error {
	var errs []error
	sled := map[batchKey]time.Time{}
	tooLong := func(where, field, v string, n int) {
		if len([]rune(v)) > n {
			errs = append(errs, fmt.Errorf("%s: %s %q is longer than %d characters", where, field, v, n))
		}
	}
	for i, d := range p.Deliveries {
		where := fmt.Sprintf("delivery plan: delivery %d", i+1)
		if d.At.IsZero() {
			errs = append(errs, fmt.Errorf("%s: at is missing", where))
		}
		if !slices.Contains(Plants, d.Plant) {
			errs = append(errs, fmt.Errorf("%s: plant %q is not one of %v", where, d.Plant, Plants))
		}
		if d.StorageLocation != "" && !slices.Contains(StorageLocations, d.StorageLocation) {
			errs = append(errs, fmt.Errorf("%s: storage_location %q is not one of %v", where, d.StorageLocation, StorageLocations))
		}
		tooLong(where, "purchase_order", d.PurchaseOrder, 10)
		tooLong(where, "supplier", d.Supplier, 10)
		tooLong(where, "delivery_note", d.DeliveryNote, 16)
		tooLong(where, "text", d.Text, 25)
		if len(d.Items) == 0 {
			errs = append(errs, fmt.Errorf("%s: no items", where))
		}
		for j, it := range d.Items {
			iw := fmt.Sprintf("%s item %d", where, j+1)
			if !slices.Contains(Materials, it.Material) {
				errs = append(errs, fmt.Errorf("%s: material %q is not one of %v", iw, it.Material, Materials))
			}
			if it.Batch == "" {
				errs = append(errs, fmt.Errorf("%s: batch is missing", iw))
			}
			tooLong(iw, "batch", it.Batch, 10)
			if it.Quantity <= 0 {
				errs = append(errs, fmt.Errorf("%s: quantity %d must be positive", iw, it.Quantity))
			}
			if it.Expires.IsZero() {
				errs = append(errs, fmt.Errorf("%s: expires is missing", iw))
			} else if it.Expires.Before(startOfDay(d.At)) {
				errs = append(errs, fmt.Errorf("%s: batch %s expires %s, before it is delivered", iw, it.Batch, it.Expires.Format(time.DateOnly)))
			}
			k := batchKey{it.Material, it.Batch}
			if have, ok := sled[k]; ok && !have.Equal(it.Expires) {
				errs = append(errs, fmt.Errorf("%s: batch %s of %s expires %s here but %s elsewhere", iw, it.Batch, it.Material, it.Expires.Format(time.DateOnly), have.Format(time.DateOnly)))
			}
			sled[k] = it.Expires
		}
	}
	return errors.Join(errs...)
}

// sorted returns the deliveries in time order (stable for equal times).
func (p *DeliveryPlan) sorted() []Delivery {
	ds := slices.Clone(p.Deliveries)
	slices.SortStableFunc(ds, func(a, b Delivery) int { return a.At.Compare(b.At) })
	return ds
}

// document turns the n-th delivery (1-based, in time order) into the
// header and items of a 101 goods receipt.
func (d Delivery) document(n int) (row, []row) {
	po := d.PurchaseOrder
	if po == "" {
		po = fmt.Sprintf("45%08d", n)
	}
	sloc := d.StorageLocation
	if sloc == "" {
		sloc = "KL01"
	}
	hdr := row{
		"GoodsMovementCode": "01", "PostingDate": startOfDay(d.At), "DocumentDate": startOfDay(d.At),
		"MaterialDocumentHeaderText": d.Text, "ReferenceDocument": d.DeliveryNote,
	}
	items := make([]row, len(d.Items))
	for i, it := range d.Items {
		items[i] = row{
			"Material": it.Material, "Plant": d.Plant, "StorageLocation": sloc, "Batch": it.Batch,
			"GoodsMovementType": "101", "GoodsMovementRefDocType": "B",
			"PurchaseOrder": po, "PurchaseOrderItem": fmt.Sprintf("%05d", (i+1)*10), "Supplier": d.Supplier,
			"QuantityInEntryUnit": it.Quantity, "EntryUnit": baseUnit,
			"ShelfLifeExpirationDate": it.Expires, "ManufactureDate": it.Manufactured,
		}
	}
	return hdr, items
}
