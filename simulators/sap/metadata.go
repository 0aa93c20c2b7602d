package sap

import (
	"fmt"
	"strings"
)

// metadataXML is the EDMX document of one service: entity types with keys,
// properties and navigation properties, one association per navigation,
// and the entity container with SAP's sap:creatable/updatable/deletable
// annotations.
func metadataXML(svc *service) string {
	ns := svc.Name
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
	b.WriteString(`<edmx:Edmx Version="1.0" xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx" xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata" xmlns:sap="http://www.sap.com/Protocols/SAPData">` + "\n")
	b.WriteString(` <edmx:DataServices m:DataServiceVersion="2.0">` + "\n")
	fmt.Fprintf(&b, `  <Schema Namespace="%s" xml:lang="en" sap:schema-version="1" xmlns="http://schemas.microsoft.com/ado/2008/09/edm">`+"\n", ns)
	type assoc struct {
		name, from, to string
		many           bool
		fromSet, toSet string
	}
	var assocs []assoc
	for _, es := range svc.Sets {
		fmt.Fprintf(&b, `   <EntityType Name="%s" sap:content-version="1">`+"\n", es.Type)
		b.WriteString(`    <Key>`)
		for _, k := range es.keys() {
			fmt.Fprintf(&b, `<PropertyRef Name="%s"/>`, k.Name)
		}
		b.WriteString("</Key>\n")
		for _, p := range es.Props {
			fmt.Fprintf(&b, `    <Property Name="%s" Type="%s"`, p.Name, p.Type)
			if p.Key {
				b.WriteString(` Nullable="false"`)
			}
			switch p.Type {
			case edmString:
				if p.MaxLength > 0 {
					fmt.Fprintf(&b, ` MaxLength="%d"`, p.MaxLength)
				}
			case edmDecimal:
				b.WriteString(` Precision="13" Scale="3" sap:unit="MaterialBaseUnit"`)
			case edmDateTime:
				b.WriteString(` Precision="0" sap:display-format="Date"`)
			case edmDateTimeOffset, edmTime:
				b.WriteString(` Precision="0"`)
			}
			fmt.Fprintf(&b, ` sap:label="%s"`, p.Name)
			if !es.Creatable || !p.Creatable {
				b.WriteString(` sap:creatable="false"`)
			}
			b.WriteString(` sap:updatable="false"/>` + "\n")
		}
		for _, n := range es.Navs {
			a := assoc{name: "assoc_" + es.Name + "_" + n.Name, from: es.Type, to: svc.set(n.Target).Type, many: n.Many, fromSet: es.Name, toSet: n.Target}
			assocs = append(assocs, a)
			fmt.Fprintf(&b, `    <NavigationProperty Name="%s" Relationship="%s.%s" FromRole="FromRole_%s" ToRole="ToRole_%s"/>`+"\n", n.Name, ns, a.name, a.name, a.name)
		}
		b.WriteString("   </EntityType>\n")
	}
	for _, a := range assocs {
		from, to := "*", "1" // item to header: many to one
		if a.many {
			from, to = "1", "*"
		}
		fmt.Fprintf(&b, `   <Association Name="%s" sap:content-version="1"><End Type="%s.%s" Multiplicity="%s" Role="FromRole_%s"/><End Type="%s.%s" Multiplicity="%s" Role="ToRole_%s"/></Association>`+"\n",
			a.name, ns, a.from, from, a.name, ns, a.to, to, a.name)
	}
	fmt.Fprintf(&b, `   <EntityContainer Name="%s_Entities" m:IsDefaultEntityContainer="true" sap:supported-formats="json">`+"\n", ns)
	for _, es := range svc.Sets {
		fmt.Fprintf(&b, `    <EntitySet Name="%s" EntityType="%s.%s" sap:creatable="%t" sap:updatable="false" sap:deletable="false" sap:pageable="true" sap:content-version="1"/>`+"\n",
			es.Name, ns, es.Type, es.Creatable)
	}
	for _, a := range assocs {
		fmt.Fprintf(&b, `    <AssociationSet Name="%s" Association="%s.%s" sap:creatable="false" sap:updatable="false" sap:deletable="false" sap:content-version="1"><End EntitySet="%s" Role="FromRole_%s"/><End EntitySet="%s" Role="ToRole_%s"/></AssociationSet>`+"\n",
			a.name, ns, a.name, a.fromSet, a.name, a.toSet, a.name)
	}
	b.WriteString("   </EntityContainer>\n  </Schema>\n </edmx:DataServices>\n</edmx:Edmx>\n")
	return b.String()
}
