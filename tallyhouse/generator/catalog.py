"""Static reference data the generator draws from: names, products, plans, vendors."""

from __future__ import annotations

from dataclasses import dataclass

FIRST_NAMES = (
    "Ana", "Bruno", "Carla", "Diego", "Eduarda", "Felipe", "Gabriela", "Henrique", "Isabela",
    "João", "Karina", "Lucas", "Mariana", "Nicolas", "Olívia", "Pedro", "Rafaela", "Samuel",
    "Tatiane", "Vinícius", "Yasmin", "Zeca", "Letícia", "Marcos", "Beatriz", "Caio", "Débora",
    "Fábio", "Helena", "Igor", "Júlia", "Leonardo", "Natália", "Otávio", "Priscila", "Renato",
)
LAST_NAMES = (
    "Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira",
    "Lima", "Gomes", "Costa", "Ribeiro", "Martins", "Carvalho", "Almeida", "Lopes", "Soares",
    "Fernandes", "Vieira", "Barbosa", "Rocha", "Dias", "Nascimento", "Andrade", "Moreira",
)
EMAIL_DOMAINS = ("gmail.com", "hotmail.com", "outlook.com", "yahoo.com.br", "uol.com.br")
CITIES = (
    ("São Paulo", "SP", "01310-100"), ("Rio de Janeiro", "RJ", "20040-002"),
    ("Belo Horizonte", "MG", "30150-101"), ("Curitiba", "PR", "80010-000"),
    ("Porto Alegre", "RS", "90010-150"), ("Salvador", "BA", "40020-000"),
    ("Recife", "PE", "50030-230"), ("Fortaleza", "CE", "60060-170"),
    ("Florianópolis", "SC", "88010-400"), ("Goiânia", "GO", "74003-010"),
)
TRAFFIC_SOURCES = ("facebook", "instagram", "google", "youtube", "email", "tiktok", "organic")
UTM_MEDIUMS = ("cpc", "social", "email", "organic", "referral")
CAMPAIGNS = ("black_friday", "lancamento", "perpetuo", "remarketing", "webinar", "evergreen")


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    price_cents: int  # BRL list price
    platforms: tuple[str, ...]
    subscription: bool = False
    warranty_days: int = 7
    plan_name: str = ""


# Digital products sold on the marketplaces. The same SKU on several platforms is the
# same product (dim_products unifies them); each platform gives it its own id.
DIGITAL_PRODUCTS = (
    Product("CUR-EXCEL-01", "Excel do Zero ao Avançado", 19700, ("hotmart", "kiwify")),
    Product("CUR-MKT-02", "Marketing Digital Completo", 49700, ("hotmart", "eduzz")),
    Product("CUR-PY-03", "Python para Análise de Dados", 39700, ("hotmart", "kiwify", "eduzz")),
    Product("CUR-FIN-04", "Finanças Pessoais na Prática", 14700, ("kiwify",)),
    Product("CUR-ING-05", "Inglês Fluente em 12 Meses", 9700, ("hotmart",), True, 7,
            "Plano Mensal"),
    Product("CUR-FOTO-06", "Fotografia com Celular", 9700, ("eduzz", "kiwify")),
    Product("CUR-CONF-07", "Confeitaria Lucrativa", 29700, ("hotmart", "eduzz"), False, 30),
    Product("CLB-INV-08", "Clube do Investidor", 4990, ("hotmart", "kiwify"), True, 7,
            "Assinatura Mensal"),
    Product("CUR-YOGA-09", "Yoga em Casa", 6700, ("kiwify",), True, 7, "Plano Mensal"),
    Product("MEN-LID-10", "Mentoria de Liderança", 199700, ("hotmart",), False, 30),
    Product("CUR-VEND-11", "Vendas pelo WhatsApp", 19700, ("eduzz",)),
    Product("EBK-RECE-12", "E-book 100 Receitas Fit", 2990, ("kiwify", "hotmart")),
    Product("CUR-DES-13", "Design no Canva", 12700, ("hotmart", "kiwify", "eduzz")),
    Product("CLB-LEIT-14", "Clube de Leitura", 2990, ("eduzz",), True, 7, "Mensal"),
    Product("CUR-ORAT-15", "Oratória Sem Medo", 24700, ("hotmart",)),
    Product("CUR-CONC-16", "Preparatório Concursos", 59700, ("hotmart", "eduzz"), True, 7,
            "Assinatura Premium"),
)

# Physical goods of the own store (VTEX + PIX checkout).
STORE_PRODUCTS = tuple(
    Product(f"LOJA-{i:03d}", name, price, ("pix",))
    for i, (name, price) in enumerate((
        ("Hidratante Facial 50g", 8990), ("Batom Matte Rubi", 4590), ("Perfume Floral 75ml", 18990),
        ("Máscara de Cílios", 5990), ("Protetor Solar FPS50", 7490), ("Sérum Vitamina C", 12990),
        ("Kit Pincéis", 9990), ("Base Líquida", 8490), ("Shampoo Reparador", 3990),
        ("Condicionador Reparador", 3990), ("Sabonete Esfoliante", 2990), ("Creme para Mãos", 2490),
        ("Água Micelar", 4490), ("Paleta de Sombras", 11990), ("Óleo Corporal", 6990),
    ), start=1)
)

REDEMPTION_PRODUCTS = (
    ("RWD-001", "Vale-compras R$ 50", "VIRTUAL", 5000),
    ("RWD-002", "Vale-compras R$ 100", "VIRTUAL", 10000),
    ("RWD-003", "Recarga de celular R$ 30", "VIRTUAL", 3000),
    ("RWD-004", "Ingresso de cinema", "VIRTUAL", 2500),
    ("RWD-005", "Assinatura streaming 3 meses", "VIRTUAL", 9000),
    ("RWD-006", "Fone Bluetooth", "PHYSICAL", 18000),
    ("RWD-007", "Smartwatch", "PHYSICAL", 65000),
    ("RWD-008", "Cafeteira Elétrica", "PHYSICAL", 32000),
    ("RWD-009", "Mochila Executiva", "PHYSICAL", 21000),
    ("RWD-010", "Garrafa Térmica", "PHYSICAL", 7000),
    ("RWD-011", "Kit Churrasco", "PHYSICAL", 26000),
    ("RWD-012", "Milhas aéreas 5.000", "VIRTUAL", 15000),
)
COMPANY_NAMES = (
    "Agro Vale", "Banco Horizonte", "Construtora Pilar", "Distribuidora Sol", "Editora Letra",
    "Farmácia Vida", "Grupo Atlântico", "Hotéis Brisa", "Indústria Forte", "Jornal Diário",
    "Logística Rota", "Metalúrgica Aço", "Nutri Alimentos", "Óptica Visão", "Papelaria Traço",
    "Química Pura", "Rede Mercado", "Seguros Amparo", "Têxtil Fio", "Usina Verde",
)
EXTERNAL_VENDORS = ("VND-AIRLINE", "VND-FUEL", "VND-BILLS", "VND-MOBILE")
PORTFOLIO_VENDOR = "VND-PORTFOLIO"
