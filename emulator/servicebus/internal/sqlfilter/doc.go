// Package sqlfilter is the Azure Service Bus SQL filter and SQL rule action
// language: a parser and an evaluator over message properties, with no I/O.
//
//	f, err := sqlfilter.ParseFilter("sys.MessageId = '123456' AND userProp1 = 'value1'")
//	ok, err := f.Match(msg)          // msg implements Properties
//	a, err := sqlfilter.ParseAction("SET sys.To = 'Entity'")
//	err = a.Apply(copyOfMsg)         // copyOfMsg implements MutableProperties
//
// The grammar and semantics are those Service Bus documents for its SQL
// filters and rule actions; where its description leaves a gap, the
// reading chosen here is stated below. The limits (1024 characters per
// expression, 32 statements per action) are the service's and its SDKs'.
//
// # Grammar
//
//	predicate  := NOT predicate | predicate AND predicate | predicate OR predicate
//	            | expr {= | <> | != | > | >= | < | <=} expr
//	            | property IS [NOT] NULL
//	            | expr [NOT] IN ( expr {, expr} )
//	            | expr [NOT] LIKE expr [ESCAPE expr]
//	            | EXISTS ( property ) | ( predicate )
//	expr       := constant | @parameter | function | property
//	            | expr {+ | - | * | / | %} expr | {+ | -} expr | ( expr )
//	property   := [sys. | user.] name
//	name       := letter {letter | digit | _} | [bracketed ]] name] | "quoted "" name"
//	constant   := 'string ''with'' quotes' | integer | decimal | 1.5E3 | TRUE | FALSE | NULL
//	function   := newid() | property(expr) | p(expr)
//	action     := {SET property = expr [;] | REMOVE property [;]}
//
// Keywords, scopes and function names are case-insensitive; a keyword can't
// be a bare name (bracket it). Precedence, loosest first: OR, AND, NOT,
// comparison/IN/LIKE/IS, binary + -, * / %, unary + -. A filter must be a
// predicate: "1=1" is the TrueFilter, "1=0" the FalseFilter; a bare
// expression such as "TRUE" or "flag" is refused, as the grammar has no
// such predicate.
//
// # Semantics
//
// Documented: property names are case-insensitive (an exact match wins when
// the message has several spellings); a missing user property is unknown
// (NULL); a non-existent system property is an error, which this package
// reports when parsing since the set is fixed; "x IS NULL" is true when x
// is missing or null; arithmetic and comparison with unknown are unknown;
// LIKE with any unknown operand is unknown; IN is unknown only when its
// left side is; AND/OR/NOT use the three-valued tables; integer constants
// are Int64, decimal and scientific constants Double, strings Unicode with
// a doubled single quote standing for one; newid() returns a new Guid (a uuid.UUID here); LIKE has %
// and _ wildcards and a one-character escape. A filter matches only when
// its predicate is TRUE.
//
// Where the docs say only "operators follow C# implicit conversion and
// operator binding", this package reads them as C# would bind them:
//
//   - long and double promote to double when mixed; long op long stays long
//     (integer division truncates, wraps on overflow as unchecked C# does,
//     division or remainder by zero is ErrDivideByZero, MinInt64 / -1 is
//     ErrOverflow); double division by zero gives ±Inf/NaN.
//   - string = string and LIKE are ordinal, i.e. case-sensitive (C#
//     string equality; Service Bus says the same of correlation
//     filters). string + string concatenates.
//   - string, bool and Guid have only = and <> (C# defines no ordering on
//     them); DateTime and TimeSpan have all six comparisons and the .NET
//     +/- operators (DateTime - DateTime is a TimeSpan).
//   - operands of types C# can't bind (string = long, bool > bool,
//     LIKE on a number, ...) are an evaluation error, ErrTypeMismatch, not
//     FALSE: the service raises a FilterException, and the broker then does
//     not select the message. NULL short-cuts first: NULL = 'x' is unknown.
//   - AND and OR short-circuit (FALSE AND x, TRUE OR x never evaluate x),
//     like C# && and ||, so the skipped side can't fail.
//   - IN compares with =; a NULL element equals nothing.
//   - property(name) / p(name) reads "sys.X" as a system property and
//     "user.X" or a bare name as a user property.
//   - "_" in LIKE matches one Unicode code point (.NET: one UTF-16 unit;
//     they differ only outside the Basic Multilingual Plane).
//   - EXISTS(sys.X) is true when the message carries a non-null X.
//
// Message values are normalized before use: every integer type to int64
// (uint64 above MaxInt64 to float64), float32 to float64, named string and
// number types (AMQP symbol, char) to their underlying kind, 16-byte arrays
// (AMQP uuid) to uuid.UUID. Anything else (binary, lists, maps, decimals)
// can only be compared for equality with a value of the same type.
//
// # System properties
//
// "sys." names the public properties of the .NET BrokeredMessage (the
// filter doc's definition): MessageId, CorrelationId, To, ReplyTo, Label,
// SessionId, ReplyToSessionId, ContentType, PartitionKey, ViaPartitionKey,
// ScheduledEnqueueTimeUtc, TimeToLive, ForcePersistence (settable by an
// action) and DeadLetterSource, DeliveryCount, EnqueuedSequenceNumber,
// EnqueuedTimeUtc, ExpiresAtUtc, LockedUntilUtc, LockToken, SequenceNumber,
// Size, State (read-only). The newer SDK names Subject, EnqueuedTime,
// ScheduledEnqueueTime, ExpiresAt, LockedUntil and TransactionPartitionKey
// are accepted as aliases. The Sys* constants are the canonical names
// passed to Properties.System.
//
// # Limits
//
// Enforced when parsing: MaxExpressionLength (1024 UTF-16 code units, as
// the service and SDKs count) for filters and actions, MaxActionStatements
// (32) per action, and a nesting bound of 256 parentheses/NOT/unary signs
// so that recursion stays shallow. Not enforced here: the number of SQL
// filters per topic (a broker/config concern).
package sqlfilter
