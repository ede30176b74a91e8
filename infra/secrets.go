package infra

import (
	"errors"
	"regexp"
	"strings"
)

var (
	// listCall matches ARM list* functions (listKeys, listSecrets,
	// listConnectionStrings, listAccountSas, …): they read secrets.
	listCall = regexp.MustCompile(`(?i)\blist[a-z]*\s*\(`)
	// secretWord matches names and expressions that carry secret material.
	secretWord = regexp.MustCompile(`(?i)connectionstring|connection_string|password|secret|instrumentationkey|accountkey|accesskey|primarykey|secondarykey|sas(token|url)?\b`)
	// secretLiteral matches secret material written into a template.
	secretLiteral = regexp.MustCompile(`(?i)(accountkey|sharedaccesskey|sharedaccesssignature|instrumentationkey|password|pwd)=[^\s'=]|amqps?://[^\s'@/:]+:[^\s'@/]+@`)
	// paramSecretName matches .bicepparam parameter names that hold secrets.
	paramSecretName = regexp.MustCompile(`(?i)password|secret|connection|key`)
)

// Secrets checks that no template reads a key or outputs a secret:
//   - no list*() call (listKeys, listSecrets, listConnectionStrings, …);
//   - no output that is @secure(), is named or computed like a secret
//     (connection string, password, key, SAS), or returns a @secure() param;
//   - no secret literal (AccountKey=, Password=, amqp://user:pass@…);
//   - no @secure() param with a non-empty default, and no secret-named
//     .bicepparam value other than an empty string or one read from the
//     environment or Key Vault.
func (c Checker) Secrets() error {
	t, err := c.read()
	if err != nil {
		return err
	}
	var errs []error
	for _, f := range t.files {
		code := f.Code()
		for _, m := range listCall.FindAllStringIndex(code, -1) {
			errs = append(errs, &Finding{File: f.Path, Line: f.LineOf(m[0]), Msg: "list*() reads keys or secrets: " + strings.TrimSpace(code[m[0]:m[1]])})
		}
		for _, m := range secretLiteral.FindAllStringIndex(code, -1) {
			errs = append(errs, &Finding{File: f.Path, Line: f.LineOf(m[0]), Msg: "secret material written into the template"})
		}
		secure := map[string]bool{}
		for _, d := range f.Find("param") {
			if !d.Secure() {
				continue
			}
			secure[d.Name] = true
			if lit, ok := d.Value.Lit(); d.Value != "" && (!ok || lit != "") {
				errs = append(errs, located{f, d}.finding("@secure() param %s has a default value", d.Name))
			}
		}
		for _, d := range f.Find("output") {
			l := located{f, d}
			if d.Secure() {
				errs = append(errs, l.finding("output %s is @secure(): outputs must not carry secrets", d.Name))
			}
			if secretWord.MatchString(d.Name) || secretWord.MatchString(d.Value.String()) {
				errs = append(errs, l.finding("output %s looks like a secret (connection string, key, password or SAS)", d.Name))
			}
			for _, id := range identToken.FindAllString(d.Value.String(), -1) {
				if secure[id] {
					errs = append(errs, l.finding("output %s returns @secure() param %s", d.Name, id))
				}
			}
		}
		if strings.HasSuffix(f.Path, ".bicepparam") {
			errs = append(errs, paramFileSecrets(f)...)
		}
	}
	return errors.Join(errs...)
}

// paramFileSecrets flags secret-named parameters given a literal value in a
// .bicepparam file; an empty string and values read at deploy time are fine.
func paramFileSecrets(f *File) []error {
	var errs []error
	for _, d := range f.Find("param") {
		if !paramSecretName.MatchString(d.Name) {
			continue
		}
		v := d.Value.String()
		if lit, ok := d.Value.Lit(); ok && lit == "" {
			continue
		}
		if strings.HasPrefix(v, "readEnvironmentVariable(") || strings.HasPrefix(v, "az.getSecret(") || strings.HasPrefix(v, "getSecret(") {
			continue
		}
		errs = append(errs, located{f, d}.finding("param %s: a secret must come from readEnvironmentVariable() or az.getSecret(), not the file", d.Name))
	}
	return errs
}
