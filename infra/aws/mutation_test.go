package aws_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/infra/aws"
)

// mutation edits the template text.
type mutation func(t *testing.T, src string) string

// replace changes the n-th (1-based) occurrence of old; the test fails if
// there are fewer.
func replace(old, new string, n int) mutation {
	return func(t *testing.T, src string) string {
		t.Helper()
		i := -1
		for k := 0; k < n; k++ {
			j := strings.Index(src[i+1:], old)
			if j < 0 {
				t.Fatalf("mutation target %q occurs fewer than %d times", old, n)
			}
			i += 1 + j
		}
		return src[:i] + new + src[i+len(old):]
	}
}

// TestMutationsFail proves each check can fail: every case removes or
// weakens one thing the app needs in a copy of the template, and the
// checks must name it.
func TestMutationsFail(t *testing.T) {
	t.Parallel()
	const processOrderPolicy, sendEmailPolicy = 2, 3 // occurrence of the consumer statements in the file
	cases := []struct {
		name string
		edit mutation
		want string
	}{
		// functions
		{"function removed", replace("  SendEmail:\n    Type: AWS::Serverless::Function", "  SendMail:\n    Type: AWS::Serverless::Function", 1), "no AWS::Serverless::Function SendEmail"},
		{"function misnamed", replace("ORDERFLOW_FUNCTION: OutboxRelay", "ORDERFLOW_FUNCTION: Relay", 1), `ORDERFLOW_FUNCTION is "Relay", want "OutboxRelay"`},
		{"go1.x runtime", replace("Runtime: provided.al2023", "Runtime: go1.x", 1), "Runtime \"go1.x\""},
		{"handler renamed", replace("Handler: bootstrap", "Handler: main", 1), "Handler \"main\""},
		{"other code", replace("CodeUri: ../../dist/lambda.zip", "CodeUri: ./src", 1), "CodeUri must be"},
		// routes
		{"route removed", replace("Path: /api/orders/{id}", "Path: /api/order/{id}", 1), "no HttpApi event for route GET /api/orders/{id}"},
		{"method changed", replace("Method: POST\n            Path: /api/orders", "Method: PUT\n            Path: /api/orders", 1), "no HttpApi event for route POST /api/orders"},
		{"authorizer removed", replace("            Auth:\n              Authorizer: AWS_IAM\n", "", 1), "route POST /api/products needs an authorizer"},
		{"payload v1", replace("PayloadFormatVersion: '2.0'", "PayloadFormatVersion: '1.0'", 1), "PayloadFormatVersion \"1.0\""},
		{"stage prefix", replace("StageName: $default", "StageName: prod", 1), "StageName \"prod\""},
		// queues
		{"queue renamed", replace("Queues: [send-email]", "Queues: [send-mail]", 1), "Queues [send-mail], want [send-email]"},
		{"mapping removed", replace("FunctionName: !Ref ProcessOrder", "FunctionName: !Ref SendEmail", 1), "no AWS::Lambda::EventSourceMapping feeds queue process-order"},
		{"batch size removed", replace("      BatchSize: !Ref ConsumerBatchSize\n", "", 1), "BatchSize must be set"},
		{"window removed", replace("      MaximumBatchingWindowInSeconds: !Ref ConsumerBatchingWindowSeconds\n", "", 2), "MaximumBatchingWindowInSeconds must be set"},
		{"virtual host removed", replace("        - Type: VIRTUAL_HOST\n          URI: /\n", "", 1), "needs VIRTUAL_HOST"},
		{"basic auth literal", replace("          URI: !Ref BrokerSecret\n", "          URI: arn:aws:secretsmanager:x\n", 1), "needs BASIC_AUTH with the broker secret"},
		{"activemq broker", replace("EngineType: RABBITMQ", "EngineType: ACTIVEMQ", 1), "no AWS::AmazonMQ::Broker with EngineType RABBITMQ"},
		{"schedule removed", replace("          Type: Schedule\n", "          Type: EventBridgeRule\n", 1), "OutboxRelay: no Schedule event"},
		// settings
		{"setting removed", replace("        POSTGRES_AUTH: rds-iam\n", "", 1), "setting POSTGRES_AUTH is not set"},
		{"classic queues", replace("RABBITMQ_QUEUE_TYPE: quorum", "RABBITMQ_QUEUE_TYPE: classic", 1), `setting RABBITMQ_QUEUE_TYPE is "classic", want "quorum"`},
		{"password login", replace("        POSTGRES_AUTH: rds-iam\n", "        POSTGRES_AUTH: rds-iam\n        DATABASE_URL: postgres://db/orders\n", 1), "setting DATABASE_URL must not be set"},
		{"region set", replace("        BROKER: rabbitmq\n", "        BROKER: rabbitmq\n        AWS_REGION: eu-west-1\n", 1), "setting AWS_REGION must not be set"},
		// permissions
		{"db login removed", replace("Action: rds-db:connect", "Action: rds:DescribeDBInstances", 4), "OutboxRelay: no rds-db:connect"},
		{"db user wildcard", replace("dbuser:${Database.DbiResourceId}/${DatabaseUser}", "dbuser:${Database.DbiResourceId}/*", 1), "Api: no rds-db:connect"},
		{"secret read removed", replace("Action: secretsmanager:GetSecretValue", "Action: secretsmanager:DescribeSecret", 1), "Api: no secretsmanager:GetSecretValue"},
		{"describe broker removed", replace("Action: mq:DescribeBroker", "Action: mq:ListBrokers", processOrderPolicy-1), "ProcessOrder: the event source mapping needs mq:DescribeBroker"},
		{"network action removed", replace("                - ec2:DescribeSubnets\n", "", sendEmailPolicy-1), "SendEmail: the event source mapping needs ec2:DescribeSubnets"},
		{"wildcard action", replace("Action: secretsmanager:GetSecretValue", "Action: secretsmanager:*", 2), "wildcard action \"secretsmanager:*\""},
		{"star resource", replace("              Resource: !Ref BrokerSecret", "              Resource: '*'", 1), "action secretsmanager:GetSecretValue on resource \"*\""},
		{"managed policy", replace("      Policies:\n        - Version", "      Policies:\n        - AdministratorAccess\n        - Version", 1), "only inline policy documents"},
		// secrets
		{"literal broker password", replace("Password: !Sub '{{resolve:secretsmanager:${BrokerSecret}:SecretString:password}}'", "Password: hunter2hunter2", 1), "broker user password must be"},
		{"db master password", replace("      ManageMasterUserPassword: true\n", "      MasterUserPassword: hunter2hunter2\n", 1), "MasterUserPassword is set"},
		{"credentials in uri", replace("RabbitMQConnection: !Select [0, !GetAtt Broker.AmqpEndpoints]", "RabbitMQConnection: amqps://orderflow:hunter2@b-1.mq.eu-west-1.amazonaws.com:5671", 1), "carries credentials in a URI"},
		{"password parameter", replace("Parameters:\n", "Parameters:\n  SmtpPassword:\n    Type: String\n    Default: hunter2\n", 1), "SmtpPassword: parameter has a default value"},
		// platform
		{"iam auth off", replace("EnableIAMDatabaseAuthentication: true", "EnableIAMDatabaseAuthentication: false", 1), "EnableIAMDatabaseAuthentication must be true"},
		{"public database", replace("      PubliclyAccessible: false\n      DBSubnetGroupName", "      PubliclyAccessible: true\n      DBSubnetGroupName", 1), "Database: PubliclyAccessible must be false"},
		{"public broker", replace("      PubliclyAccessible: false\n      SubnetIds", "      PubliclyAccessible: true\n      SubnetIds", 1), "Broker: PubliclyAccessible must be false"},
		{"outside the vpc", replace("    VpcConfig:\n      SubnetIds: [!Ref PrivateSubnetA, !Ref PrivateSubnetB]\n      SecurityGroupIds: [!Ref FunctionSecurityGroup]\n", "", 1), "VpcConfig with subnets and security groups is required"},
		{"mysql", replace("Engine: postgres", "Engine: mysql", 1), "Engine \"mysql\", want postgres"},
	}
	src, err := os.ReadFile(aws.TemplateFile)
	if err != nil {
		t.Fatal(err)
	}
	w := want(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := tc.edit(t, string(src))
			if out == string(src) {
				t.Fatal("mutation changed nothing")
			}
			p := filepath.Join(t.TempDir(), "template.yaml")
			if err := os.WriteFile(p, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
			tpl, err := aws.Load(p)
			if err != nil {
				t.Fatalf("mutated template does not parse: %v", err)
			}
			err = tpl.Check(w)
			if err == nil {
				t.Fatalf("checks passed on the mutated template, want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}
