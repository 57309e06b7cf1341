"""Name material for generated people, teams and courses.

Pairs are (display, ascii) so usernames and emails stay ASCII while display names
exercise non-ASCII text through the whole pipeline.
"""

FIRST_ASCII = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas",
    "Sarah", "Charles", "Karen", "Christopher", "Lisa", "Daniel", "Nancy", "Matthew", "Betty",
    "Anthony", "Sandra", "Mark", "Margaret", "Priya", "Arjun", "Fatima", "Omar", "Aisha",
    "Kwame", "Amara", "Hiroshi", "Mei", "Lars", "Ingrid", "Pedro", "Lucia", "Ahmed", "Noor",
    "Tomasz", "Olga", "Dmitri", "Chloe", "Liam", "Emma", "Noah", "Olivia", "Mateo", "Sofia",
)
FIRST_INTL = (
    ("José", "jose"), ("Zoë", "zoe"), ("Łukasz", "lukasz"), ("Søren", "soren"),
    ("François", "francois"), ("Björn", "bjorn"), ("Anaïs", "anais"), ("Jürgen", "jurgen"),
    ("Siobhán", "siobhan"), ("Renée", "renee"), ("İlker", "ilker"), ("Ångström", "angstrom"),
    ("伟", "wei"), ("芳", "fang"), ("陽翔", "haruto"), ("さくら", "sakura"), ("지훈", "jihoon"),
    ("Александр", "aleksandr"), ("Ελένη", "eleni"), ("محمد", "mohammed"), ("Nguyệt", "nguyet"),
)
LAST_ASCII = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson",
    "Taylor", "Thomas", "Moore", "Martin", "Jackson", "Thompson", "White", "Harris", "Clark",
    "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Hill", "Green",
    "Adams", "Baker", "Patel", "Singh", "Okafor", "Mensah", "Tanaka", "Chen", "Kowalski",
    "Novak", "Larsen", "Silva", "Rossi", "Schmidt", "Haddad", "Kaur", "Smith-Jones",
    "de la Cruz", "van der Berg", "McAllister",
)
LAST_INTL = (
    ("García", "garcia"), ("Müller", "muller"), ("Nguyễn", "nguyen"), ("O'Brien", "obrien"),
    ("Øster", "oster"), ("Dvořák", "dvorak"), ("Çelik", "celik"), ("Jiménez", "jimenez"),
    ("Løkke", "lokke"), ("Šimić", "simic"), ("王", "wang"), ("李", "li"), ("田中", "tanaka"),
    ("김", "kim"), ("Иванова", "ivanova"), ("Παπαδόπουλος", "papadopoulos"),
    ("Şahin", "sahin"), ("Ó Súilleabháin", "osuilleabhain"),
)
BRANDS = (
    ("Acme Learning", "acme.example.com"),
    ("Globex Academy", "globex.example.com"),
    ("Initech University", "initech.example.org"),
)
TIMEZONES = (
    "Eastern Standard Time", "Pacific Standard Time", "GMT Standard Time",
    "W. Europe Standard Time", "Tokyo Standard Time", "AUS Eastern Standard Time",
)
CULTURES = ("en-US", "en-GB", "de-DE", "fr-FR", "ja-JP", "es-ES", "pt-BR")
PLACES = (
    ("Austin", "TX", "78701", "United States"),
    ("Boston", "MA", "02108", "United States"),
    ("London", "", "EC1A 1BB", "United Kingdom"),
    ("München", "Bayern", "80331", "Germany"),
    ("Zürich", "ZH", "8001", "Switzerland"),
    ("São Paulo", "SP", "01000-000", "Brazil"),
    ("東京", "東京都", "100-0001", "Japan"),
    ("Sydney", "NSW", "2000", "Australia"),
    ("Kraków", "Małopolskie", "30-001", "Poland"),
)
JOB_TITLES = (
    "Account Executive", "Software Engineer", "Support Specialist", "HR Partner",
    "Warehouse Associate", "Nurse", "Store Manager", "Analyst", "Chef de partie",
    "Director, R&D", "Ingénieure", "",
)
DEPARTMENTS = (
    "Sales", "Marketing", "Engineering", "R&D", "Support", "Finance", "HR", "Legal",
    "Operations", "Logistics", "Vertrieb", "Ventes", "営業部",
)
REGIONS = (
    "EMEA", "APAC", "North America", "LATAM", "Nordics", "DACH", "Île-de-France",
    "São Paulo", "東京",
)
COURSE_TOPICS = (
    ("Data Privacy", "DPR"), ("Workplace Safety", "WPS"), ("Anti-Harassment", "AHR"),
    ("Health & Safety", "HNS"), ("Code of Conduct", "COC"), ("Information Security", "ISC"),
    ("Customer Service", "CSV"), ("Leadership", "LDR"), ("Sales Fundamentals", "SLS"),
    ("Product Training", "PRD"), ("Onboarding", "ONB"), ("GDPR", "GDP"),
    ("Diversity & Inclusion", "DNI"), ("First Aid", "FAD"), ("Fire Safety", "FIR"),
    ("Ethics", "ETH"), ("Time Management", "TMG"), ("Negotiation", "NEG"),
    ("Project Management", "PMG"), ("Cybersecurity Awareness", "CYB"), ("Anti-Bribery", "ABR"),
    ("Forklift Operation", "FRK"), ("Food Hygiene", "FHY"), ("Mental Health", "MNH"),
    ("HTML <basics> & CSS", "WEB"),
)
COURSE_TOPICS_INTL = (
    ("Sécurité au travail", "SAT"), ("Datenschutz für Führungskräfte", "DSF"),
    ("情報セキュリティ基礎", "JSK"), ("Ética empresarial", "ETE"),
)
COURSE_PREFIXES = ("", "", "Introduction to ", "Advanced ", "Essentials of ", "Annual ",
                    "Refresher: ")
