package sap

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Master data. The codes are fixed by mappings/sap/material-document-item.yaml.
var (
	// Materials are the four vaccines of 2021, batch-managed, base unit ST (doses).
	Materials = []string{"VAC-COMIRNATY", "VAC-SPIKEVAX", "VAC-VAXZEVRIA", "VAC-JANSSEN"}

	// Plants are the central cold store SN00 and the 13 vaccination centres
	// SN01..SN13 in alphabetical order of the centres.
	Plants = []string{"SN00", "SN01", "SN02", "SN03", "SN04", "SN05", "SN06", "SN07", "SN08", "SN09", "SN10", "SN11", "SN12", "SN13"}

	// StorageLocations exist in every plant: KL01 the cold store, MOB1 and
	// MOB2 the mobile teams' stock.
	StorageLocations = []string{"KL01", "MOB1", "MOB2"}
)

const baseUnit = "ST"

// Goods movement codes (header) and the movement types each allows.
var movementsByCode = map[string][]string{
	"01": {"101"},        // goods receipt for purchase order
	"03": {"201", "551"}, // goods issue: to cost centre, scrapping
	"04": {"311"},        // transfer posting storage location to storage location
	"05": {"501"},        // other goods receipt (without purchase order)
}

// document is one material document: its header row and its item rows.
type document struct {
	header row
	items  []row
}

func docKey(year, number string) string { return year + "/" + number }

// stockKey identifies one stock quantity: unrestricted stock of a batch of a
// material in a storage location of a plant.
type stockKey struct{ Material, Plant, StorageLocation, Batch string }

type batchKey struct{ Material, Batch string }

// batch is the batch master (API_BATCH_SRV/Batch). Batches are unique per
// material at client level, so BatchIdentifyingPlant is empty.
type batch struct {
	Material, Batch, Supplier string
	ShelfLife, Manufactured   time.Time
	Created                   time.Time
}

// postingError is a refused goods movement: one message per problem, with
// the item it concerns, as SAP lists them in errordetails.
type postingError struct {
	details []errorDetail
}

func (e *postingError) add(code, target, format string, args ...any) {
	e.details = append(e.details, errorDetail{Code: code, Message: fmt.Sprintf(format, args...), Target: target})
}

// Message codes. MM_IM_ODATA_API_MDOC/011 and /014 are the real codes
// (external-apis.md 1.3); M7/021 is SAP's deficit message as recalled; the
// other M7 numbers are the simulator's own choice in SAP's format.
const (
	codePropertyNotSupported = "MM_IM_ODATA_API_MDOC/011"
	codeProcessingFailed     = "MM_IM_ODATA_API_MDOC/014"
	codeDeficit              = "M7/021"
	codeNoMaterial           = "M7/001"
	codeNoStorageLocation    = "M7/018"
	codeBatchRequired        = "M7/040"
	codeNoBatch              = "M7/042"
	codeShelfLifeRequired    = "M7/664"
	codeBadQuantity          = "M7/076"
	codeBadMovement          = "M7/093"
	codeAccountAssignment    = "M7/131"
	codePurchaseOrder        = "M7/146"
)

// post checks and books one goods movement: hdr and items come from a create
// payload or the delivery plan. Either every item is booked or none; the
// stock check counts earlier items of the same document. It returns the new
// document. The caller holds the lock.
func (s *Simulator) post(hdr row, items []row, user string, created time.Time) (*document, *postingError) {
	perr := &postingError{}
	code := hdr.str("GoodsMovementCode")
	allowed, ok := movementsByCode[code]
	switch {
	case code == "":
		perr.add(codeBadMovement, "GoodsMovementCode", "Enter a goods movement code (01, 03, 04 or 05)")
	case !ok:
		perr.add(codeBadMovement, "GoodsMovementCode", "Goods movement code %s is not supported", code)
	}
	if len(items) == 0 {
		perr.add(codeBadMovement, navItems, "A material document needs at least one item")
	}
	posting := hdr.date("PostingDate")
	if posting.IsZero() {
		posting = startOfDay(created)
	}

	taken := map[stockKey]int64{} // issued by earlier items of this document
	added := map[stockKey]int64{} // received by earlier items of this document
	newBatches := map[batchKey]*batch{}
	for i, it := range items {
		target := fmt.Sprintf("%s(%d)", navItems, i+1)
		mt := it.str("GoodsMovementType")
		switch {
		case mt == "":
			perr.add(codeBadMovement, target, "Item %d: enter a movement type", i+1)
			continue
		case ok && !slices.Contains(allowed, mt):
			perr.add(codeBadMovement, target, "Item %d: movement type %s is not allowed with goods movement code %s", i+1, mt, code)
			continue
		}
		mat, plant, sloc, bat := it.str("Material"), it.str("Plant"), it.str("StorageLocation"), it.str("Batch")
		if !slices.Contains(Materials, mat) {
			perr.add(codeNoMaterial, target, "Material %s does not exist or is not maintained in plant %s", mat, plant)
			continue
		}
		if !slices.Contains(Plants, plant) {
			perr.add(codeNoMaterial, target, "Material %s is not maintained in plant %s", mat, plant)
			continue
		}
		if sloc == "" {
			perr.add(codeNoStorageLocation, target, "Item %d: enter a storage location", i+1)
			continue
		}
		if !slices.Contains(StorageLocations, sloc) {
			perr.add(codeNoStorageLocation, target, "Storage location %s %s does not exist", plant, sloc)
			continue
		}
		if bat == "" {
			perr.add(codeBatchRequired, target, "Material %s is handled in batches: enter a batch", mat)
			continue
		}
		q, unit := it.qty("QuantityInEntryUnit"), it.str("EntryUnit")
		if unit != "" && unit != baseUnit {
			perr.add(codeBadQuantity, target, "Unit %s is not defined for material %s (use %s)", unit, mat, baseUnit)
			continue
		}
		if q <= 0 {
			perr.add(codeBadQuantity, target, "Item %d: enter a quantity greater than zero", i+1)
			continue
		}
		po, poItem, ref := it.str("PurchaseOrder"), it.str("PurchaseOrderItem"), it.str("GoodsMovementRefDocType")
		bk := batchKey{mat, bat}
		k := stockKey{mat, plant, sloc, bat}
		switch mt {
		case "101", "501":
			if mt == "101" {
				if (po != "" || poItem != "") && ref == "" {
					perr.add(codePropertyNotSupported, target, "Property PURCHASEORDER is not supported for GoodsMovementType 101")
					continue
				}
				if ref != "B" || po == "" {
					perr.add(codePurchaseOrder, target, "Item %d: movement type 101 needs GoodsMovementRefDocType B and a purchase order; use 501 for a receipt without one", i+1)
					continue
				}
			} else if ref != "" || po != "" {
				perr.add(codePropertyNotSupported, target, "Property PURCHASEORDER is not supported for GoodsMovementType 501")
				continue
			}
			if s.batches[bk] == nil && newBatches[bk] == nil {
				sled := it.date("ShelfLifeExpirationDate")
				if sled.IsZero() {
					perr.add(codeShelfLifeRequired, target, "Enter the shelf life expiration date for new batch %s of material %s", bat, mat)
					continue
				}
				if sled.Before(posting) {
					perr.add(codeShelfLifeRequired, target, "Batch %s of material %s expired on %s, before the posting date %s", bat, mat, sled.Format(time.DateOnly), posting.Format(time.DateOnly))
					continue
				}
				newBatches[bk] = &batch{Material: mat, Batch: bat, Supplier: it.str("Supplier"), ShelfLife: sled, Manufactured: it.date("ManufactureDate"), Created: created}
			}
			added[k] += q
		case "201", "551", "311":
			if ref != "" || po != "" {
				perr.add(codePropertyNotSupported, target, "Property PURCHASEORDER is not supported for GoodsMovementType %s", mt)
				continue
			}
			if mt == "201" && it.str("CostCenter") == "" {
				perr.add(codeAccountAssignment, target, "Item %d: account assignment is mandatory for movement type 201: enter a cost centre", i+1)
				continue
			}
			if mt == "311" {
				to := it.str("IssuingOrReceivingStorageLoc")
				if p := it.str("IssuingOrReceivingPlant"); p != "" && p != plant {
					perr.add(codeBadMovement, target, "Item %d: movement type 311 stays in plant %s; receiving plant %s needs 301", i+1, plant, p)
					continue
				}
				if b := it.str("IssgOrRcvgBatch"); b != "" && b != bat {
					perr.add(codeBadMovement, target, "Item %d: movement type 311 cannot change the batch", i+1)
					continue
				}
				switch {
				case to == "":
					perr.add(codeNoStorageLocation, target, "Item %d: enter the receiving storage location", i+1)
					continue
				case !slices.Contains(StorageLocations, to):
					perr.add(codeNoStorageLocation, target, "Storage location %s %s does not exist", plant, to)
					continue
				case to == sloc:
					perr.add(codeBadMovement, target, "Item %d: issuing and receiving storage location are the same", i+1)
					continue
				}
			}
			if s.batches[bk] == nil && newBatches[bk] == nil {
				perr.add(codeNoBatch, target, "Batch %s does not exist for material %s", bat, mat)
				continue
			}
			have := s.stock[k] + added[k] - taken[k]
			if q > have {
				perr.add(codeDeficit, target, "Deficit of BA Unrestricted-use %d %s : %s %s %s %s", q-have, baseUnit, mat, plant, sloc, bat)
				continue
			}
			taken[k] += q
			if mt == "311" {
				added[stockKey{mat, plant, it.str("IssuingOrReceivingStorageLoc"), bat}] += q
			}
		default:
			perr.add(codeBadMovement, target, "Movement type %s is not supported by this system", mt)
		}
	}
	if len(perr.details) > 0 {
		perr.add(codeProcessingFailed, "", "Material Document processing failed")
		return nil, perr
	}

	// Book it.
	s.lastDocNumber++
	year := strconv.Itoa(posting.Year())
	number := strconv.FormatInt(s.lastDocNumber, 10)
	h := row{
		"MaterialDocumentYear":       year,
		"MaterialDocument":           number,
		"InventoryTransactionType":   "WA",
		"DocumentDate":               hdr.date("DocumentDate"),
		"PostingDate":                posting,
		"CreationDate":               startOfDay(created),
		"CreationTime":               created.Sub(startOfDay(created)).Truncate(time.Second),
		"CreatedByUser":              strings.ToUpper(user),
		"MaterialDocumentHeaderText": hdr.str("MaterialDocumentHeaderText"),
		"ReferenceDocument":          hdr.str("ReferenceDocument"),
		"GoodsMovementCode":          code,
	}
	if code == "01" {
		h["InventoryTransactionType"] = "WE"
	}
	if h.date("DocumentDate").IsZero() {
		h["DocumentDate"] = posting
	}
	for bk, b := range newBatches {
		s.batches[bk] = b
		s.batchOrder = append(s.batchOrder, bk)
	}
	doc := &document{header: h}
	n := 0
	for _, src := range items {
		it := row{}
		for k, v := range src {
			it[k] = v
		}
		mat, plant, sloc, bat, mt := it.str("Material"), it.str("Plant"), it.str("StorageLocation"), it.str("Batch"), it.str("GoodsMovementType")
		q := it.qty("QuantityInEntryUnit")
		n++
		it["MaterialDocumentYear"] = year
		it["MaterialDocument"] = number
		it["MaterialDocumentItem"] = strconv.Itoa(n)
		it["EntryUnit"] = baseUnit
		it["QuantityInBaseUnit"] = q
		it["MaterialBaseUnit"] = baseUnit
		if it.str("InventoryStockType") == "" {
			it["InventoryStockType"] = "01"
		}
		if b := s.batches[batchKey{mat, bat}]; b != nil && it.date("ShelfLifeExpirationDate").IsZero() {
			it["ShelfLifeExpirationDate"] = b.ShelfLife
		}
		k := stockKey{mat, plant, sloc, bat}
		switch mt {
		case "101", "501":
			it["DebitCreditCode"] = "S"
			s.addStock(k, q)
			doc.items = append(doc.items, it)
		case "201", "551":
			it["DebitCreditCode"] = "H"
			s.addStock(k, -q)
			doc.items = append(doc.items, it)
		case "311":
			to := it.str("IssuingOrReceivingStorageLoc")
			it["DebitCreditCode"] = "H"
			it["IssuingOrReceivingPlant"] = plant
			it["IssgOrRcvgMaterial"] = mat
			it["IssgOrRcvgBatch"] = bat
			s.addStock(k, -q)
			doc.items = append(doc.items, it)
			// SAP writes the receiving side as a second, automatically
			// created line (DebitCreditCode S, IsAutomaticallyCreated X).
			recv := row{}
			for k, v := range it {
				recv[k] = v
			}
			n++
			recv["MaterialDocumentItem"] = strconv.Itoa(n)
			recv["StorageLocation"] = to
			recv["IssuingOrReceivingStorageLoc"] = sloc
			recv["DebitCreditCode"] = "S"
			recv["IsAutomaticallyCreated"] = "X"
			s.addStock(stockKey{mat, plant, to, bat}, q)
			doc.items = append(doc.items, recv)
		}
	}
	s.docs = append(s.docs, doc)
	s.docByKey[docKey(year, number)] = doc
	return doc, nil
}

func (s *Simulator) addStock(k stockKey, q int64) {
	if _, ok := s.stock[k]; !ok {
		s.stockOrder = append(s.stockOrder, k)
	}
	s.stock[k] += q
}

// stockRows returns A_MatlStkInAcctMod rows, for one material or all, sorted
// by material, plant, storage location and batch. A batch that has been
// used up keeps its row with quantity 0, as a batch stock record in SAP does.
func (s *Simulator) stockRows(material string) []row {
	keys := slices.Clone(s.stockOrder)
	slices.SortFunc(keys, func(a, b stockKey) int {
		return strings.Compare(a.Material+"\x00"+a.Plant+"\x00"+a.StorageLocation+"\x00"+a.Batch,
			b.Material+"\x00"+b.Plant+"\x00"+b.StorageLocation+"\x00"+b.Batch)
	})
	var rows []row
	for _, k := range keys {
		if material != "" && k.Material != material {
			continue
		}
		rows = append(rows, row{
			"Material": k.Material, "Plant": k.Plant, "StorageLocation": k.StorageLocation, "Batch": k.Batch,
			"Supplier": "", "Customer": "", "WBSElementInternalID": "00000000", "SDDocument": "", "SDDocumentItem": "000000",
			"InventorySpecialStockType": "", "InventoryStockType": "01",
			"MaterialBaseUnit": baseUnit, "MatlWrhsStkQtyInMatlBaseUnit": s.stock[k],
		})
	}
	return rows
}

func (s *Simulator) batchRows() []row {
	keys := slices.Clone(s.batchOrder)
	slices.SortFunc(keys, func(a, b batchKey) int {
		return strings.Compare(a.Material+"\x00"+a.Batch, b.Material+"\x00"+b.Batch)
	})
	rows := make([]row, len(keys))
	for i, k := range keys {
		b := s.batches[k]
		rows[i] = row{
			"Material": b.Material, "BatchIdentifyingPlant": "", "Batch": b.Batch, "Supplier": b.Supplier,
			"BatchBySupplier": b.Batch, "CountryOfOrigin": "", "BatchIsMarkedForDeletion": false,
			"MatlBatchIsInRstrcdUseStock": false,
			"ShelfLifeExpirationDate":     b.ShelfLife, "ManufactureDate": b.Manufactured,
			"MatlBatchAvailabilityDate": startOfDay(b.Created),
			"CreationDateTime":          b.Created, "LastChangeDateTime": b.Created,
		}
	}
	return rows
}

func startOfDay(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}
