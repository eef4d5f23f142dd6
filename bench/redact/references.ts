// Realistic false-positive shapes for the secret scanner: code and configuration that refer to
// a secret (read it from the environment, a file, a template, a vault) without holding one, as
// they appear in public Compose examples and the apps beside them; each language or format also
// has true positives in the same shapes, with the secret written in. The scanner's precision is
// measured on this set (bench/redact/run.ts) and held by a test (test/redact/references.test.ts).
//
// Every line here is realistic in shape; none holds a real credential.

export interface Shape {
  /** Where such a line is found: the language or file format. */
  readonly where: string;
  readonly text: string;
  /** For a true positive, the secret that must be found; undefined for a reference. */
  readonly secret?: string;
}

const ref = (where: string, ...texts: string[]): Shape[] => texts.map((text) => ({ where, text }));
const lit = (where: string, secret: string, text: string): Shape => ({ where, text, secret });

export const REFERENCES: readonly Shape[] = [
  ...ref(
    'python',
    "db_password = os.environ.get('POSTGRES_PASSWORD')",
    "password = os.environ['DB_PASSWORD']",
    'PASSWORD = os.getenv("MYSQL_PASSWORD", "")',
    "with open('/run/secrets/db-password') as pf:\n    password=pf.read()",
    "password = open('/run/secrets/db_password').read().strip()",
    "password = config['database']['password']",
    'password=settings.DATABASE_PASSWORD',
    'passwd = getpass.getpass()',
    "password = request.form['password']",
    'password=args.password',
    'password = hashlib.sha256(raw).hexdigest()',
    "secret_key = os.environ.get('SECRET_KEY')",
    'api_key = os.environ["OPENAI_API_KEY"]',
    'token = self.get_token()',
    "token = request.headers.get('Authorization')",
    'conn = psycopg2.connect(host=host, user=user, password=password)',
  ),
  ...ref(
    'javascript',
    'const password = process.env.DATABASE_PASSWORD;',
    '  password: process.env.DB_PASSWORD,',
    "const password = fs.readFileSync('/run/secrets/db-password', 'utf8').trim();",
    "  password: process.env['DB_PASSWORD'],",
    'const { password } = req.body;',
    '  token: await getToken(),',
    'apiKey: config.get("openai.apiKey"),',
  ),
  ...ref(
    'go',
    '  password := os.Getenv("DB_PASSWORD")',
    '  password, err := os.ReadFile("/run/secrets/db-password")',
    '\tPassword: cfg.Database.Password,',
  ),
  ...ref(
    'java',
    'String password = System.getenv("DB_PASSWORD");',
    'spring.datasource.password=${DB_PASSWORD}',
    'String password = new String(Files.readAllBytes(Paths.get("/run/secrets/db-password")));',
  ),
  ...ref(
    'csharp',
    'var password = File.ReadAllText("/run/secrets/db-password");',
    'var password = Environment.GetEnvironmentVariable("DB_PASSWORD");',
  ),
  ...ref(
    'ruby',
    "password = ENV.fetch('DATABASE_PASSWORD')",
    "  password: <%= ENV['DB_PASSWORD'] %>",
    '  password: <%= Rails.application.credentials.db_password %>',
  ),
  ...ref('php', "$password = getenv('DB_PASSWORD');", "'password' => env('DB_PASSWORD'),"),
  ...ref(
    'compose',
    '      - POSTGRES_PASSWORD_FILE=/run/secrets/db_password',
    '      - MYSQL_ROOT_PASSWORD=${MYSQL_ROOT_PASSWORD}',
    '      MYSQL_PASSWORD: ${DB_PASSWORD:-}',
    '    command: --password="$(cat /run/secrets/db-password)"',
    '    command: mysqld --password=$(cat /run/secrets/db-password)',
    '    command: sh -c \'exec app --password="$$(cat /run/secrets/db-password)"\'',
    '    entrypoint: ["sh", "-c", "redis-server --requirepass $$(cat /run/secrets/redis_password)"]',
    '      - DB_PASSWORD_FILE=/run/secrets/postgres_password',
    '      - MYSQL_ROOT_PASSWORD_FILE=/run/secrets/db_root_password',
    '      test: ["CMD", "mysqladmin", "ping", "-h", "127.0.0.1", "--password=$$MYSQL_ROOT_PASSWORD"]',
  ),
  ...ref(
    'shell',
    'export PGPASSWORD=$(cat /run/secrets/pg_password)',
    'mysql -u root --password="$MYSQL_ROOT_PASSWORD" -e "select 1"',
    'read -rs -p "Password: " password',
    'docker login -u "$USER" --password-stdin < /run/secrets/registry',
  ),
  ...ref(
    'kubernetes',
    '  - name: DB_PASSWORD\n    valueFrom:\n      secretKeyRef: {name: db, key: password}',
    '        password: "{{ .Values.db.password }}"',
  ),
  ...ref(
    'templates',
    'password: "{{ db_password }}"',
    'password: !ENV ${DB_PASSWORD}',
    'password = "%DB_PASSWORD%"',
    'password = "#{ENV[\'DB_PASSWORD\']}"',
  ),
  ...ref(
    'terraform',
    '  password = var.db_password',
    '  password = random_password.db.result',
    '  password = data.aws_secretsmanager_secret_version.db.secret_string',
  ),
];

/** The same shapes with the secret written in: what the scanner must still find. */
export const LITERALS: readonly Shape[] = [
  lit('python', 'Xk9mP2vLq7wR!t', "db_password = 'Xk9mP2vLq7wR!t'"),
  lit('python', 'hN4#sT8qZw2Lm', 'conn = psycopg2.connect(host="db", user="app", password="hN4#sT8qZw2Lm")'),
  lit('javascript', 'Qm7!pW3xLc9Rv', "const password = 'Qm7!pW3xLc9Rv';"),
  lit('javascript', 'T9r@Kd2mXq5Zp', "  password: 'T9r@Kd2mXq5Zp',"),
  lit('go', 'bV6%nJ3kWq8Ls', '  password := "bV6%nJ3kWq8Ls"'),
  lit('java', 'Zc4!mR8tKw2Pq', 'String password = "Zc4!mR8tKw2Pq";'),
  lit('java', 'Ls7@qX2nVb9Tw', 'spring.datasource.password=Ls7@qX2nVb9Tw'),
  lit('csharp', 'Pw3#kL9mZq6Rt', 'var password = "Pw3#kL9mZq6Rt";'),
  lit('ruby', 'Gh8!vN2cXk5Qm', "  password: 'Gh8!vN2cXk5Qm'"),
  lit('php', 'Rt6@zM9pLw3Kq', "'password' => 'Rt6@zM9pLw3Kq',"),
  lit('compose', 'Mq2#xT7vLp9Wk', '      - MYSQL_ROOT_PASSWORD=Mq2#xT7vLp9Wk'),
  lit('compose', 'Kz5!rP8wNq3Xv', '      POSTGRES_PASSWORD: Kz5!rP8wNq3Xv'),
  lit('compose', 'Vn9@tQ4mKx7Lp', '    command: mysqld --password=Vn9@tQ4mKx7Lp'),
  lit('shell', 'Wc3#pZ8kRm5Tq', 'export PGPASSWORD=Wc3#pZ8kRm5Tq'),
  lit('shell', 'Jx6!qL2vNw9Pk', 'mysql -u root --password="Jx6!qL2vNw9Pk" -e "select 1"'),
  lit('kubernetes', 'Bt8@mW3qZk6Xr', '        password: "Bt8@mW3qZk6Xr"'),
  lit('terraform', 'Hq4#vR9nLx2Mp', '  password = "Hq4#vR9nLx2Mp"'),
  lit('npmrc', 'Yp7tKq2mXw9Rv3Lz', '//registry.npmjs.org/:_authToken=Yp7tKq2mXw9Rv3Lz'),
  lit('npmrc', 'Ux5rPq8kWm2Zt7Vn', '_auth=Ux5rPq8kWm2Zt7Vn'),
];
