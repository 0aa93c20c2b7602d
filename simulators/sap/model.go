package sap

import "time"

// Edm types the simulator serves. Values are kept in a row as:
// edmString string, edmDecimal int64 (whole units; written with three
// decimals), edmDateTime and edmDateTimeOffset time.Time (zero is null),
// edmTime time.Duration since midnight, edmBoolean bool.
const (
	edmString         = "Edm.String"
	edmDecimal        = "Edm.Decimal"
	edmDateTime       = "Edm.DateTime"
	edmDateTimeOffset = "Edm.DateTimeOffset"
	edmTime           = "Edm.Time"
	edmBoolean        = "Edm.Boolean"
)

// row is one entity: property name to value (see the edm constants).
type row map[string]any

func (r row) str(name string) string {
	s, _ := r[name].(string)
	return s
}

func (r row) date(name string) time.Time {
	t, _ := r[name].(time.Time)
	return t
}

func (r row) qty(name string) int64 {
	n, _ := r[name].(int64)
	return n
}

// prop is one property of an entity type, as $metadata declares it.
type prop struct {
	Name      string
	Type      string
	MaxLength int
	Key       bool
	Creatable bool // accepted in a create payload; other properties are ignored there
	Label     string
}

// nav is a navigation property. Resolve returns the related rows of r.
type nav struct {
	Name    string
	Target  string // entity set name in the same service
	Many    bool
	Resolve func(s *Simulator, r row) []row
}

// entitySet is one OData entity set with its entity type.
type entitySet struct {
	Service   string
	Name      string
	Type      string // entity type name without the namespace
	Props     []prop
	Navs      []nav
	Creatable bool
	// List returns every row in the set in key order. It is called with the
	// simulator's lock held.
	List func(s *Simulator) []row
}

func (es *entitySet) prop(name string) (prop, bool) {
	for _, p := range es.Props {
		if p.Name == name {
			return p, true
		}
	}
	return prop{}, false
}

func (es *entitySet) nav(name string) (nav, bool) {
	for _, n := range es.Navs {
		if n.Name == name {
			return n, true
		}
	}
	return nav{}, false
}

func (es *entitySet) keys() []prop {
	var ks []prop
	for _, p := range es.Props {
		if p.Key {
			ks = append(ks, p)
		}
	}
	return ks
}

// service is one OData service under /sap/opu/odata/sap/.
type service struct {
	Name string
	Sets []*entitySet
}

func (sv *service) set(name string) *entitySet {
	for _, es := range sv.Sets {
		if es.Name == name {
			return es
		}
	}
	return nil
}

// Service and entity-set names, as SAP spells them (external-apis.md 1.2-1.4).
const (
	svcDocument = "API_MATERIAL_DOCUMENT_SRV"
	svcStock    = "API_MATERIAL_STOCK_SRV"
	svcBatch    = "API_BATCH_SRV"

	setHeader     = "A_MaterialDocumentHeader"
	setItem       = "A_MaterialDocumentItem"
	setStock      = "A_MatlStkInAcctMod"
	setMatlStock  = "A_MaterialStock"
	setBatch      = "Batch"
	navItems      = "to_MaterialDocumentItem"
	navHeader     = "to_MaterialDocumentHeader"
	navStockItems = "to_MatlStkInAcctMod"
	navMatlStock  = "to_MaterialStock"
)

func str(name string, maxLen int) prop { return prop{Name: name, Type: edmString, MaxLength: maxLen} }
func key(name string, maxLen int) prop {
	return prop{Name: name, Type: edmString, MaxLength: maxLen, Key: true}
}
func in(p prop) prop { p.Creatable = true; return p }

var headerProps = []prop{
	key("MaterialDocumentYear", 4),
	key("MaterialDocument", 10),
	str("InventoryTransactionType", 2),
	in(prop{Name: "DocumentDate", Type: edmDateTime}),
	in(prop{Name: "PostingDate", Type: edmDateTime}),
	{Name: "CreationDate", Type: edmDateTime},
	{Name: "CreationTime", Type: edmTime},
	str("CreatedByUser", 12),
	in(str("MaterialDocumentHeaderText", 25)),
	in(str("ReferenceDocument", 16)),
	in(str("GoodsMovementCode", 2)),
}

var itemProps = []prop{
	key("MaterialDocumentYear", 4),
	key("MaterialDocument", 10),
	key("MaterialDocumentItem", 4),
	in(str("Material", 40)),
	in(str("Plant", 4)),
	in(str("StorageLocation", 4)),
	in(str("Batch", 10)),
	in(str("GoodsMovementType", 3)),
	in(str("InventoryStockType", 2)),
	in(str("InventorySpecialStockType", 1)),
	in(str("Supplier", 10)),
	in(str("Customer", 10)),
	in(str("SalesOrder", 10)),
	in(str("PurchaseOrder", 10)),
	in(str("PurchaseOrderItem", 5)),
	in(str("GoodsMovementRefDocType", 1)),
	in(str("GoodsMovementReasonCode", 4)),
	in(str("IssuingOrReceivingPlant", 4)),
	in(str("IssuingOrReceivingStorageLoc", 4)),
	in(str("IssgOrRcvgMaterial", 40)),
	in(str("IssgOrRcvgBatch", 10)),
	in(str("CostCenter", 10)),
	in(str("Reservation", 10)),
	in(str("ReservationItem", 4)),
	in(str("GoodsRecipientName", 12)),
	in(str("UnloadingPointName", 25)),
	in(str("MaterialDocumentItemText", 50)),
	in(prop{Name: "ShelfLifeExpirationDate", Type: edmDateTime}),
	in(prop{Name: "ManufactureDate", Type: edmDateTime}),
	in(prop{Name: "QuantityInEntryUnit", Type: edmDecimal}),
	in(str("EntryUnit", 3)),
	{Name: "QuantityInBaseUnit", Type: edmDecimal},
	str("MaterialBaseUnit", 3),
	str("DebitCreditCode", 1),
	str("IsAutomaticallyCreated", 1),
}

var stockProps = []prop{
	key("Material", 40),
	key("Plant", 4),
	key("StorageLocation", 4),
	key("Batch", 10),
	key("Supplier", 10),
	key("Customer", 10),
	key("WBSElementInternalID", 24),
	key("SDDocument", 10),
	key("SDDocumentItem", 6),
	key("InventorySpecialStockType", 1),
	key("InventoryStockType", 2),
	str("MaterialBaseUnit", 3),
	{Name: "MatlWrhsStkQtyInMatlBaseUnit", Type: edmDecimal},
}

var matlStockProps = []prop{
	key("Material", 40),
	str("MaterialBaseUnit", 3),
}

var batchProps = []prop{
	key("Material", 40),
	key("BatchIdentifyingPlant", 4),
	key("Batch", 10),
	str("Supplier", 10),
	str("BatchBySupplier", 15),
	str("CountryOfOrigin", 3),
	{Name: "BatchIsMarkedForDeletion", Type: edmBoolean},
	{Name: "MatlBatchIsInRstrcdUseStock", Type: edmBoolean},
	{Name: "ShelfLifeExpirationDate", Type: edmDateTime},
	{Name: "ManufactureDate", Type: edmDateTime},
	{Name: "MatlBatchAvailabilityDate", Type: edmDateTime},
	{Name: "CreationDateTime", Type: edmDateTimeOffset},
	{Name: "LastChangeDateTime", Type: edmDateTimeOffset},
}

// services builds the three services with their entity sets.
func services() map[string]*service {
	header := &entitySet{
		Service: svcDocument, Name: setHeader, Type: setHeader + "Type", Props: headerProps, Creatable: true,
		List: func(s *Simulator) []row {
			rows := make([]row, len(s.docs))
			for i, d := range s.docs {
				rows[i] = d.header
			}
			return rows
		},
		Navs: []nav{{Name: navItems, Target: setItem, Many: true, Resolve: func(s *Simulator, r row) []row {
			if d := s.docByKey[docKey(r.str("MaterialDocumentYear"), r.str("MaterialDocument"))]; d != nil {
				return d.items
			}
			return nil
		}}},
	}
	item := &entitySet{
		Service: svcDocument, Name: setItem, Type: setItem + "Type", Props: itemProps,
		List: func(s *Simulator) []row {
			var rows []row
			for _, d := range s.docs {
				rows = append(rows, d.items...)
			}
			return rows
		},
		Navs: []nav{{Name: navHeader, Target: setHeader, Resolve: func(s *Simulator, r row) []row {
			if d := s.docByKey[docKey(r.str("MaterialDocumentYear"), r.str("MaterialDocument"))]; d != nil {
				return []row{d.header}
			}
			return nil
		}}},
	}
	stock := &entitySet{
		Service: svcStock, Name: setStock, Type: setStock + "Type", Props: stockProps,
		List: func(s *Simulator) []row { return s.stockRows("") },
		Navs: []nav{{Name: navMatlStock, Target: setMatlStock, Resolve: func(s *Simulator, r row) []row {
			return []row{materialStockRow(r.str("Material"))}
		}}},
	}
	matl := &entitySet{
		Service: svcStock, Name: setMatlStock, Type: setMatlStock + "Type", Props: matlStockProps,
		List: func(s *Simulator) []row {
			rows := make([]row, len(Materials))
			for i, m := range Materials {
				rows[i] = materialStockRow(m)
			}
			return rows
		},
		Navs: []nav{{Name: navStockItems, Target: setStock, Many: true, Resolve: func(s *Simulator, r row) []row {
			return s.stockRows(r.str("Material"))
		}}},
	}
	batch := &entitySet{
		Service: svcBatch, Name: setBatch, Type: setBatch + "Type", Props: batchProps,
		List: func(s *Simulator) []row { return s.batchRows() },
	}
	return map[string]*service{
		svcDocument: {Name: svcDocument, Sets: []*entitySet{header, item}},
		svcStock:    {Name: svcStock, Sets: []*entitySet{matl, stock}},
		svcBatch:    {Name: svcBatch, Sets: []*entitySet{batch}},
	}
}

func materialStockRow(material string) row {
	return row{"Material": material, "MaterialBaseUnit": baseUnit}
}
