package register

import "strings"

// Names of the synthetic population. German residents get family names
// weighted roughly by their frequency in Saxony and given names by birth
// cohort (Gertrud and Horst, the GDR's Mandy and Ronny, today's Emma and
// Ben). About one in thirteen residents belongs to a family whose names
// come from elsewhere, which brings in the wider Latin letters of DIN 91379:
// Nguyễn, Ćosić, Łukasz, Øzdemir, Dvořák, Yıldız.

// nameGroup is a family of names. Families are "Name:weight" (a missing
// weight counts as 1); German given names come from germanCohorts instead
// of Male and Female.
type nameGroup struct {
	Name     string
	Weight   int      // per 10,000 residents
	Families []string // "Name:weight"
	Male     []string // used when the group has no cohorts
	Female   []string
	Second   int // per cent with a second given name
}

var nameGroups = []nameGroup{
	{Name: "german", Weight: 9250, Second: 30, Families: splitList(`
Müller:100 Schmidt:80 Schneider:35 Fischer:35 Weber:30 Meyer:28 Wagner:28 Becker:25 Schulz:30
Hoffmann:30 Schäfer:18 Koch:18 Bauer:18 Richter:30 Klein:15 Wolf:18 Schröder:15 Neumann:25
Schwarz:15 Zimmermann:18 Braun:15 Krüger:15 Hofmann:15 Hartmann:15 Lange:15 Schmitt:10 Werner:18
Schmitz:5 Krause:22 Meier:15 Lehmann:20 Schmid:8 Schulze:20 Maier:8 Köhler:15 Herrmann:15
König:12 Walter:15 Mayer:8 Huber:3 Kaiser:10 Fuchs:12 Peters:8 Lang:8 Scholz:15 Möller:8
Weiß:15 Jung:8 Hahn:10 Schubert:18 Vogel:15 Friedrich:15 Keller:8 Günther:15 Frank:12 Berger:10
Winkler:15 Roth:8 Beck:8 Lorenz:15 Baumann:12 Franke:12 Albrecht:10 Schuster:12 Simon:8
Ludwig:10 Böhm:12 Winter:10 Kraus:8 Martin:8 Schumacher:6 Krämer:6 Vogt:10 Stein:6 Jäger:8
Otto:12 Sommer:8 Groß:10 Seidel:15 Heinrich:10 Brandt:6 Haas:5 Schreiber:8 Graf:6 Dietrich:12
Ziegler:6 Kuhn:8 Kühn:12 Pohl:10 Engel:8 Horn:8 Busch:6 Bergmann:8 Thomas:8 Voigt:18 Sauer:6
Arnold:8 Wolff:6 Pfeiffer:8 Böhme:20 Ullrich:10 Rößler:10 Fröhlich:10 Kretzschmar:12 Hähnel:8
Rudolph:10 Uhlig:15 Lößner:4 Förster:12 Gräfe:5 Nitzsche:8 Küchler:4 Strauß:6 Weißbach:4
Grießbach:3 Süß:5 Wünsche:6 Löffler:6 Thiele:8 Ebert:8 Göpfert:4 Kießling:6 Mehnert:5
Naumann:12 Haustein:6 Teichmann:5 Oehme:5 Kunze:12 Clauß:4 Preußler:3 Meyer:6 Maier:4
Nowak:4 Kral:2 Budar:1 Mětšk:1 Wjela:1 Šołta:1 Schwarze:4 Hänsel:5 Lindner:10 Fiedler:10
Heinze:8 Eichler:6 Langer:8 Schade:5 Tröger:4 Flämig:3 Rülke:2 Däßler:2 Gläser:5 Jähnig:3`),
	},
	{Name: "vietnamese", Weight: 80, Second: 40,
		Families: splitList(`Nguyễn:40 Trần:12 Lê:10 Phạm:8 Hoàng:5 Vũ:5 Đặng:3 Bùi:3 Đỗ:3 Ngô:2`),
		Male:     splitList(`Minh Tuấn Hùng Đức Quang Nam Dũng Thắng Long Văn`),
		Female:   splitList(`Lan Hương Thảo Linh Mai Ngọc Hằng Thu Trang Thị`)},
	{Name: "polish", Weight: 120, Second: 15,
		Families: splitList(`Nowak:10 Wójcik:6 Kowalczyk:6 Woźniak:5 Mazur:4 Krawczyk:4 Kaczmarek:4 Wiśniewski:5 Dąbrowski:3 Zieliński:3 Szymański:3 Łukaszewicz:2`),
		Male:     splitList(`Łukasz Paweł Michał Piotr Krzysztof Tomasz Jakub Mateusz Grzegorz`),
		Female:   splitList(`Małgorzata Agnieszka Katarzyna Joanna Magdalena Anna Ewa Dorota`)},
	{Name: "czech", Weight: 60, Second: 10,
		Families: splitList(`Novák:8 Dvořák:6 Svoboda:6 Černý:5 Procházka:4 Kučera:4 Veselý:3 Horák:3 Němec:3`),
		Male:     splitList(`Jiří Petr Tomáš Jan Lukáš Martin Ondřej Václav`),
		Female:   splitList(`Jana Tereza Lucie Petra Kateřina Markéta Zuzana Věra`)},
	{Name: "turkish", Weight: 80, Second: 10,
		Families: splitList(`Yılmaz:8 Kaya:6 Demir:6 Şahin:5 Çelik:5 Yıldız:5 Öztürk:4 Aydın:4 Özdemir:4 Øzdemir:2 Arslan:3 Doğan:3`),
		Male:     splitList(`Mehmet Mustafa Ahmet Ali Hüseyin Emre Murat Ömer Can`),
		Female:   splitList(`Ayşe Fatma Emine Zeynep Elif Şule Hatice Gül Özlem`)},
	{Name: "arabic", Weight: 150, Second: 10,
		Families: splitList(`Al-Hassan:5 Ibrahim:6 Khalil:5 Haddad:4 Mansour:4 Saleh:4 Aziz:3 Al-Ahmad:4 Hamdan:3 Youssef:4`),
		Male:     splitList(`Mohammad Ahmad Omar Khaled Yusuf Hassan Mahmoud Rami Karim`),
		Female:   splitList(`Fatima Aisha Layla Nour Rania Zainab Amira Hala Mariam`)},
	{Name: "balkan", Weight: 80, Second: 5,
		Families: splitList(`Ćosić:6 Jovanović:6 Petrović:6 Nikolić:5 Kovačević:5 Marković:5 Đorđević:3 Popović:4 Hodžić:3 Begić:3 Šarić:3`),
		Male:     splitList(`Nikola Marko Dragan Stefan Emir Adnan Goran Miloš Dževad`),
		Female:   splitList(`Jelena Ana Milica Ivana Amra Lejla Snežana Mirjana Dženana`)},
	{Name: "russian", Weight: 150, Second: 5,
		Families: splitList(`Iwanow:6 Petrow:5 Smirnow:5 Kusnezow:4 Popow:4 Wolkow:3 Schewtschenko:3 Bondarenko:3 Kowalenko:3`),
		Male:     splitList(`Alexander Sergej Dmitrij Wladimir Andrej Juri Maxim Artjom`),
		Female:   splitList(`Olga Natalja Swetlana Tatjana Jelena Irina Anastasia Ljudmila`)},
	{Name: "nordic", Weight: 30, Second: 20,
		Families: splitList(`Sørensen:4 Ødegaard:2 Åkesson:2 Lindqvist:3 Jørgensen:3 Håkansson:2 Ærø:1 Ólafsson:1 Þórsdóttir:1`),
		Male:     splitList(`Søren Bjørn Åke Jens Øystein Lars Björn Þór`),
		Female:   splitList(`Åsa Ingrid Siv Kirsten Sølvi Maren Ása Guðrún`)},
}

// germanCohort lists German given names for people born up to Until.
type germanCohort struct {
	Until  int // last birth year of the cohort
	Male   []string
	Female []string
}

var germanCohorts = []germanCohort{
	{1934,
		splitList(`Walter Kurt Werner Herbert Gerhard Heinz Karl Hans Erich Otto Willi Fritz Rudolf Helmut Günther`),
		splitList(`Gertrud Erna Elfriede Ilse Hildegard Charlotte Irmgard Margarete Frieda Käthe Lieselotte Hertha Gerda Ruth`)},
	{1954,
		splitList(`Peter Klaus Wolfgang Manfred Dieter Günter Horst Jürgen Gerd Siegfried Joachim Karl-Heinz Hans-Jürgen Rolf Lothar Eberhard Bernd`),
		splitList(`Renate Christa Ingrid Helga Brigitte Ursula Karin Monika Gisela Rosemarie Marianne Waltraud Bärbel Hannelore Christine Regina`)},
	{1969,
		splitList(`Andreas Thomas Frank Uwe Jörg Ralf Steffen Michael Matthias Bernd Lutz Olaf Holger Jens Dirk Torsten Hans-Peter`),
		splitList(`Sabine Petra Kerstin Heike Andrea Birgit Gabriele Angelika Simone Kathrin Ute Cornelia Anett Dagmar Silke Marion`)},
	{1989,
		splitList(`Daniel René Marcel Sven Mike Ronny Enrico Sebastian Christian Stefan Tobias André Rico Maik Robert Martin Falk`),
		splitList(`Mandy Peggy Nancy Sandy Anja Katja Susann Stefanie Nicole Claudia Yvonne Manuela Romy Doreen Daniela Grit Jacqueline`)},
	{2004,
		splitList(`Philipp Paul Max Tom Felix Lukas Florian Kevin Tim Niklas Erik Martin Jonas Maximilian Richard Hannes`),
		splitList(`Lisa Julia Laura Anne Sarah Lena Maria Sophie Jessica Jennifer Franziska Josephine Anna-Lena Luise Vanessa`)},
	{9999,
		splitList(`Ben Leon Noah Elias Finn Emil Anton Oskar Karl Theo Jonas Paul Mats Leonard Moritz Jonathan`),
		splitList(`Emma Mia Hanna Emilia Lina Ella Clara Marie Lea Charlotte Frieda Zoë Renée Maja Mila Johanna`)},
}

// splitList splits a whitespace-separated list.
func splitList(s string) []string { return strings.Fields(s) }
