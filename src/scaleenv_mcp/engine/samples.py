"""Word lists for seed data. Kept in the repository (not drawn from a faker package) so
that the same blueprint and seed give the same rows on every machine and every
version of our dependencies: generated tasks quote these values."""

FIRST_NAMES = (
    "Amara Ben Chloe Daniel Elena Farid Grace Hiro Isabel Jonah Keira Liam Maya Nikhil Olivia Pablo "
    "Quinn Rosa Samir Tara Umar Vera Wesley Ximena Yusuf Zoe Aaron Bianca Carlos Dana Emeka Fiona "
    "Gabriel Hana Ivan Julia Kofi Leila Mateo Nora Oscar Priya Rafael Sofia Tomas Uma Victor Wen "
    "Yara Zack Aisha Bruno Clara Diego Esther Felix Greta Hugo Ines Jamal"
).split()
LAST_NAMES = (
    "Abbott Baptiste Chen Dubois Eriksen Fischer Garcia Haddad Ito Jensen Kowalski Lopez Morales "
    "Nakamura Okafor Patel Quintero Rossi Schmidt Tanaka Usman Varga Walsh Xu Yilmaz Zhang Alvarez "
    "Becker Costa Diallo Evans Ferreira Gupta Hughes Ivanova Jovanovic Kim Larsen Mendes Novak "
    "Olsen Park Reyes Silva Torres Ueda Vasquez Weber Young Zimmerman Bauer Carter Dalton Ellis"
).split()
EMAIL_DOMAINS = ("northmail.com", "postbox.net", "mailhub.org", "inbox.example.com", "letterly.io")
CITIES = (
    "Lisbon Austin Toronto Melbourne Osaka Dublin Denver Porto Seattle Lyon Boston Vienna Madrid "
    "Chicago Oslo Prague Atlanta Munich Portland Valencia Montreal Phoenix Helsinki Nashville Bristol"
).split()
STREETS = (
    "Maple Street|Oak Avenue|Harbor Road|Cedar Lane|Sunset Boulevard|Elm Court|Riverside Drive|"
    "Hillcrest Way|Park Place|Mill Road|Station Street|Orchard Close|Lake View|King Street|Bay Road"
).split("|")
COMPANIES = (
    "Acme Corp|Brightwave Ltd|Cobalt Systems|Dunmore & Sons|Evergreen Labs|Fjord Analytics|Granite Works|"
    "Helix Media|Ironwood Group|Juniper Health|Keystone Logistics|Lumen Studio|Meridian Foods|Northstar Bank"
).split("|")
ADJECTIVES = (
    "silent quiet golden hidden bright distant crimson northern gentle wild broken last lost brave "
    "ancient little open secret silver blue green hollow swift curious patient"
).split()
NOUNS = (
    "harbor garden river mountain signal forest window lantern journey bridge orchard voyage compass "
    "island archive meadow engine letter storm atlas theory kingdom circuit season"
).split()
