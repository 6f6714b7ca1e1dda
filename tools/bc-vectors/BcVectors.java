// Secure DICOM File vectors made, and files read, by BouncyCastle (the second CMS implementation
// of the test suite). Test tool only: run through make-vectors.sh (writer) or the interop table
// script (reader); it needs Java 17 and BouncyCastle 1.72 from Debian (libbcprov-java,
// libbcpkix-java), nothing downloaded.
//
//   java BcVectors write PKI_DIR DICOM_FILE OUT_DIR
//       writes the vector set (the names and what each is are in the VECTORS table below)
//   java BcVectors read IN OUT [--key K --cert C] [--kek HEXFILE --kek-id HEX] [--password-file F]
//       opens a Secure DICOM File, checks the inner SignedData / DigestedData, writes the DICOM
//       file; exit 0 opened, 1 failed (one line on stderr), 2 usage.

import java.io.FileReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.Security;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.MGF1ParameterSpec;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import javax.crypto.spec.OAEPParameterSpec;
import javax.crypto.spec.PSource;
import javax.crypto.spec.SecretKeySpec;

import org.bouncycastle.asn1.ASN1Encoding;
import org.bouncycastle.asn1.ASN1ObjectIdentifier;
import org.bouncycastle.asn1.ASN1OctetString;
import org.bouncycastle.asn1.ASN1Primitive;
import org.bouncycastle.asn1.DEROctetString;
import org.bouncycastle.asn1.DERSet;
import org.bouncycastle.asn1.cms.Attribute;
import org.bouncycastle.asn1.cms.AttributeTable;
import org.bouncycastle.asn1.cms.AuthEnvelopedData;
import org.bouncycastle.asn1.cms.CMSAttributes;
import org.bouncycastle.asn1.cms.CMSObjectIdentifiers;
import org.bouncycastle.asn1.cms.ContentInfo;
import org.bouncycastle.asn1.cms.DigestedData;
import org.bouncycastle.asn1.cms.EnvelopedData;
import org.bouncycastle.asn1.nist.NISTObjectIdentifiers;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.x509.AlgorithmIdentifier;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaCertStore;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cms.CMSAlgorithm;
import org.bouncycastle.cms.CMSAuthEnvelopedData;
import org.bouncycastle.cms.CMSAuthEnvelopedDataGenerator;
import org.bouncycastle.cms.CMSEnvelopedData;
import org.bouncycastle.cms.CMSEnvelopedDataGenerator;
import org.bouncycastle.cms.CMSProcessableByteArray;
import org.bouncycastle.cms.CMSSignedData;
import org.bouncycastle.cms.CMSSignedDataGenerator;
import org.bouncycastle.cms.CMSTypedData;
import org.bouncycastle.cms.KEKRecipientInformation;
import org.bouncycastle.cms.KeyAgreeRecipientInformation;
import org.bouncycastle.cms.KeyTransRecipientInformation;
import org.bouncycastle.cms.PasswordRecipient;
import org.bouncycastle.cms.PasswordRecipientInformation;
import org.bouncycastle.cms.Recipient;
import org.bouncycastle.cms.RecipientInfoGenerator;
import org.bouncycastle.cms.RecipientInformation;
import org.bouncycastle.cms.RecipientInformationStore;
import org.bouncycastle.cms.SignerInformation;
import org.bouncycastle.cms.SimpleAttributeTableGenerator;
import org.bouncycastle.cms.jcajce.JceCMSContentEncryptorBuilder;
import org.bouncycastle.cms.jcajce.JceKEKEnvelopedRecipient;
import org.bouncycastle.cms.jcajce.JceKEKRecipientInfoGenerator;
import org.bouncycastle.cms.jcajce.JceKeyAgreeEnvelopedRecipient;
import org.bouncycastle.cms.jcajce.JceKeyAgreeRecipientInfoGenerator;
import org.bouncycastle.cms.jcajce.JceKeyTransEnvelopedRecipient;
import org.bouncycastle.cms.jcajce.JceKeyTransRecipientInfoGenerator;
import org.bouncycastle.cms.jcajce.JcePasswordEnvelopedRecipient;
import org.bouncycastle.cms.jcajce.JcePasswordRecipientInfoGenerator;
import org.bouncycastle.cms.jcajce.JcaSignerInfoGeneratorBuilder;
import org.bouncycastle.cms.jcajce.JcaSimpleSignerInfoVerifierBuilder;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.operator.OutputAEADEncryptor;
import org.bouncycastle.operator.OutputEncryptor;
import org.bouncycastle.operator.jcajce.JcaAlgorithmParametersConverter;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.operator.jcajce.JcaDigestCalculatorProviderBuilder;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.util.encoders.Hex;

public final class BcVectors {
    private static final String BC = "BC";
    private static final int PBKDF2_ITERATIONS = 10000;

    private BcVectors() {
    }

    public static void main(String[] args) throws Exception {
        Security.addProvider(new BouncyCastleProvider());
        if (args.length == 4 && args[0].equals("write")) {
            write(Path.of(args[1]), Path.of(args[2]), Path.of(args[3]));
        } else if (args.length >= 3 && args[0].equals("read")) {
            System.exit(read(args));
        } else {
            System.err.println("usage: BcVectors write PKI DICOM OUTDIR | read IN OUT [credentials]");
            System.exit(2);
        }
    }

    // ---------------------------------------------------------------------------------------
    // PEM material

    static X509Certificate cert(Path p) throws IOException, Exception {
        try (PEMParser r = new PEMParser(new FileReader(p.toFile()))) {
            X509CertificateHolder h = (X509CertificateHolder) r.readObject();
            return new JcaX509CertificateConverter().setProvider(BC).getCertificate(h);
        }
    }

    static PrivateKey key(Path p) throws IOException {
        try (PEMParser r = new PEMParser(new FileReader(p.toFile()))) {
            return new JcaPEMKeyConverter().setProvider(BC).getPrivateKey((PrivateKeyInfo) r.readObject());
        }
    }

    static char[] password(Path p) throws IOException {
        String s = Files.readString(p, StandardCharsets.US_ASCII);
        int nl = s.indexOf('\n');
        return (nl >= 0 ? s.substring(0, nl) : s).toCharArray();
    }

    static byte[] hexFile(Path p) throws IOException {
        return Hex.decode(Files.readString(p, StandardCharsets.US_ASCII).trim());
    }

    // ---------------------------------------------------------------------------------------
    // writer: inner contents

    static CMSTypedData data(byte[] b) {
        return new CMSProcessableByteArray(CMSObjectIdentifiers.data, b);
    }

    /** SignedData around b (signer certificate included); the envelope holds its value. */
    static CMSTypedData signed(byte[] b, Path pki, String signer, String sigAlg) throws Exception {
        X509Certificate c = cert(pki.resolve(signer + ".pem"));
        PrivateKey k = key(pki.resolve(signer + ".key"));
        CMSSignedDataGenerator g = new CMSSignedDataGenerator();
        g.addSignerInfoGenerator(new JcaSignerInfoGeneratorBuilder(
                new JcaDigestCalculatorProviderBuilder().setProvider(BC).build())
                .build(new JcaContentSignerBuilder(sigAlg).setProvider(BC).build(k), c));
        g.addCertificates(new JcaCertStore(List.of(c)));
        CMSSignedData sd = g.generate(data(b), true);
        byte[] value = sd.toASN1Structure().getContent().toASN1Primitive().getEncoded(ASN1Encoding.DER);
        return new CMSProcessableByteArray(CMSObjectIdentifiers.signedData, value);
    }

    /** DigestedData around b, built with BC's ASN.1 classes (BC 1.72 has no generator for it). */
    static CMSTypedData digested(byte[] b, String jcaName, ASN1ObjectIdentifier oid) throws Exception {
        byte[] digest = MessageDigest.getInstance(jcaName, BC).digest(b);
        DigestedData dd = new DigestedData(new AlgorithmIdentifier(oid),
                new ContentInfo(CMSObjectIdentifiers.data, new DEROctetString(b)), digest);
        return new CMSProcessableByteArray(CMSObjectIdentifiers.digestedData,
                dd.getEncoded(ASN1Encoding.DER));
    }

    // ---------------------------------------------------------------------------------------
    // writer: recipients

    static RecipientInfoGenerator pwri(Path pki, ASN1ObjectIdentifier kekCipher, boolean sha256) throws Exception {
        byte[] salt = new byte[16];
        new java.security.SecureRandom().nextBytes(salt);
        JcePasswordRecipientInfoGenerator g = new JcePasswordRecipientInfoGenerator(kekCipher,
                password(pki.resolve("password.txt")));
        g.setProvider(BC);
        g.setPasswordConversionScheme(PasswordRecipient.PKCS5_SCHEME2_UTF8);
        g.setSaltAndIterationCount(salt, PBKDF2_ITERATIONS);
        if (sha256) {
            g.setPRF(PasswordRecipient.PRF.HMacSHA256);
        }
        return g;
    }

    static RecipientInfoGenerator kekri(Path pki, String bits) throws Exception {
        byte[] kek = hexFile(pki.resolve("kek-aes" + bits + ".hex"));
        byte[] id = hexFile(pki.resolve("kek-aes" + bits + ".id.hex"));
        return new JceKEKRecipientInfoGenerator(id, new SecretKeySpec(kek, "AES")).setProvider(BC);
    }

    static RecipientInfoGenerator ktri(Path pki, boolean oaep) throws Exception {
        X509Certificate c = cert(pki.resolve("recip-rsa2048.pem"));
        if (!oaep) {
            return new JceKeyTransRecipientInfoGenerator(c).setProvider(BC);
        }
        AlgorithmIdentifier alg = new JcaAlgorithmParametersConverter().getAlgorithmIdentifier(
                PKCSObjectIdentifiers.id_RSAES_OAEP, new OAEPParameterSpec("SHA-256", "MGF1",
                        MGF1ParameterSpec.SHA256, PSource.PSpecified.DEFAULT));
        return new JceKeyTransRecipientInfoGenerator(c, alg).setProvider(BC);
    }

    /** Ephemeral-static ECDH to recip-p256 (sha256kdf, AES-128 wrap) or recip-p384 (sha384kdf, AES-256 wrap). */
    static RecipientInfoGenerator kari(Path pki, String curve) throws Exception {
        boolean p384 = curve.equals("P-384");
        X509Certificate c = cert(pki.resolve(p384 ? "recip-p384.pem" : "recip-p256.pem"));
        KeyPairGenerator kpg = KeyPairGenerator.getInstance("EC", BC);
        kpg.initialize(new ECGenParameterSpec(curve));
        KeyPair eph = kpg.generateKeyPair();
        JceKeyAgreeRecipientInfoGenerator g = new JceKeyAgreeRecipientInfoGenerator(
                p384 ? CMSAlgorithm.ECDH_SHA384KDF : CMSAlgorithm.ECDH_SHA256KDF,
                eph.getPrivate(), eph.getPublic(),
                p384 ? CMSAlgorithm.AES256_WRAP : CMSAlgorithm.AES128_WRAP);
        g.addRecipient(c);
        g.setProvider(BC);
        return g;
    }

    // ---------------------------------------------------------------------------------------
    // writer: envelopes

    static byte[] enveloped(CMSTypedData content, ASN1ObjectIdentifier cipher, RecipientInfoGenerator... rs)
            throws Exception {
        CMSEnvelopedDataGenerator g = new CMSEnvelopedDataGenerator();
        for (RecipientInfoGenerator r : rs) {
            g.addRecipientInfoGenerator(r);
        }
        OutputEncryptor enc = new JceCMSContentEncryptorBuilder(cipher).setProvider(BC).build();
        return g.generate(content, enc).getEncoded();
    }

    static byte[] authEnveloped(CMSTypedData content, ASN1ObjectIdentifier cipher, RecipientInfoGenerator... rs)
            throws Exception {
        CMSAuthEnvelopedDataGenerator g = new CMSAuthEnvelopedDataGenerator();
        for (RecipientInfoGenerator r : rs) {
            g.addRecipientInfoGenerator(r);
        }
        if (!content.getContentType().equals(CMSObjectIdentifiers.data)) {
            // RFC 5083 §2.1: authAttrs with a content-type attribute when the content is not id-data
            g.setAuthenticatedAttributeGenerator(new SimpleAttributeTableGenerator(new AttributeTable(
                    new Attribute(CMSAttributes.contentType, new DERSet(content.getContentType())))));
        }
        OutputAEADEncryptor enc = (OutputAEADEncryptor) new JceCMSContentEncryptorBuilder(cipher)
                .setProvider(BC).build();
        return g.generate(content, enc).getEncoded();
    }

    static void write(Path pki, Path dicom, Path out) throws Exception {
        byte[] dcm = Files.readAllBytes(dicom);
        Map<String, byte[]> v = new LinkedHashMap<>();
        v.put("b01_pwri-sha256_aes256cbc_digested-sha256_v0.cms", enveloped(
                digested(dcm, "SHA-256", NISTObjectIdentifiers.id_sha256), CMSAlgorithm.AES256_CBC,
                pwri(pki, CMSAlgorithm.AES256_CBC, true)));
        v.put("b02_pwri-sha1_aes128cbc_data_v0.cms", enveloped(
                data(dcm), CMSAlgorithm.AES128_CBC, pwri(pki, CMSAlgorithm.AES128_CBC, false)));
        v.put("b03_kekri-aes256wrap_aes256cbc_digested-sha512.cms", enveloped(
                digested(dcm, "SHA-512", NISTObjectIdentifiers.id_sha512), CMSAlgorithm.AES256_CBC,
                kekri(pki, "256")));
        v.put("b04_ktri-rsa15_aes128cbc_signed-rsa-sha256.cms", enveloped(
                signed(dcm, pki, "signer-rsa2048", "SHA256withRSA"), CMSAlgorithm.AES128_CBC,
                ktri(pki, false)));
        v.put("b05_ktri-rsaoaep256_aes256cbc_signed-ecdsa-p256.cms", enveloped(
                signed(dcm, pki, "signer-p256", "SHA256withECDSA"), CMSAlgorithm.AES256_CBC,
                ktri(pki, true)));
        v.put("b06_kari-p256-sha256kdf-aes128wrap_aes128cbc_data.cms", enveloped(
                data(dcm), CMSAlgorithm.AES128_CBC, kari(pki, "P-256")));
        v.put("b07_kari-p384-sha384kdf-aes256wrap_aes256cbc_signed-ecdsa-p256.cms", enveloped(
                signed(dcm, pki, "signer-p256", "SHA256withECDSA"), CMSAlgorithm.AES256_CBC,
                kari(pki, "P-384")));
        v.put("b08_authenv_kekri-aes128wrap_aes128gcm_data.cms", authEnveloped(
                data(dcm), CMSAlgorithm.AES128_GCM, kekri(pki, "128")));
        v.put("b09_authenv_ktri-rsaoaep256_aes256gcm_data.cms", authEnveloped(
                data(dcm), CMSAlgorithm.AES256_GCM, ktri(pki, true)));
        v.put("b10_authenv_kari-p256_aes256gcm_signed-rsa-sha256.cms", authEnveloped(
                signed(dcm, pki, "signer-rsa2048", "SHA256withRSA"), CMSAlgorithm.AES256_GCM,
                kari(pki, "P-256")));
        v.put("b11_authenv_pwri-sha256_aes256gcm_data.cms", authEnveloped(
                data(dcm), CMSAlgorithm.AES256_GCM, pwri(pki, CMSAlgorithm.AES256_CBC, true)));
        v.put("b12_pwri+kekri_aes256cbc_digested-sha256_v2.cms", enveloped(
                digested(dcm, "SHA-256", NISTObjectIdentifiers.id_sha256), CMSAlgorithm.AES256_CBC,
                pwri(pki, CMSAlgorithm.AES256_CBC, true), kekri(pki, "256")));
        Files.createDirectories(out);
        for (Map.Entry<String, byte[]> e : v.entrySet()) {
            Files.write(out.resolve(e.getKey()), e.getValue());
            System.out.println(e.getKey());
        }
    }

    // ---------------------------------------------------------------------------------------
    // reader

    static Map<String, String> options(String[] args) {
        Map<String, String> o = new HashMap<>();
        for (int i = 3; i + 1 < args.length; i += 2) {
            o.put(args[i], args[i + 1]);
        }
        return o;
    }

    static int read(String[] args) {
        try {
            Map<String, String> o = options(args);
            byte[] in = Files.readAllBytes(Path.of(args[1]));
            ContentInfo ci = ContentInfo.getInstance(ASN1Primitive.fromByteArray(in));
            RecipientInformationStore store;
            ASN1ObjectIdentifier inner;
            String outer;
            if (ci.getContentType().equals(CMSObjectIdentifiers.authEnvelopedData)) {
                store = new CMSAuthEnvelopedData(in).getRecipientInfos();
                inner = AuthEnvelopedData.getInstance(ci.getContent()).getAuthEncryptedContentInfo().getContentType();
                outer = "auth-enveloped-data";
            } else {
                store = new CMSEnvelopedData(in).getRecipientInfos();
                inner = EnvelopedData.getInstance(ci.getContent()).getEncryptedContentInfo().getContentType();
                outer = "enveloped-data";
            }
            byte[] plain = null;
            String used = null;
            List<String> kinds = new ArrayList<>();
            for (RecipientInformation ri : store.getRecipients()) {
                kinds.add(ri.getClass().getSimpleName().replace("RecipientInformation", ""));
                Recipient r = recipientFor(ri, o);
                if (r != null) {
                    plain = ri.getContent(r);
                    used = ri.getClass().getSimpleName().replace("RecipientInformation", "");
                    break;
                }
            }
            if (plain == null) {
                System.err.println("no recipient matches the credentials (recipients BC can read: "
                        + (kinds.isEmpty() ? "none" : String.join(", ", kinds)) + ")");
                return 1;
            }
            byte[] dicom = innerContent(inner, plain);
            Files.write(Path.of(args[2]), dicom);
            System.out.println("opened " + outer + " via " + used + ", inner " + inner);
            return 0;
        } catch (Exception e) {
            System.err.println("failed: " + e.getClass().getSimpleName() + ": " + e.getMessage());
            return 1;
        }
    }

    static Recipient recipientFor(RecipientInformation ri, Map<String, String> o) throws Exception {
        if (o.containsKey("--key") && o.containsKey("--cert")) {
            X509CertificateHolder h = new X509CertificateHolder(cert(Path.of(o.get("--cert"))).getEncoded());
            PrivateKey k = key(Path.of(o.get("--key")));
            if (ri instanceof KeyTransRecipientInformation && ri.getRID().match(h)) {
                return new JceKeyTransEnvelopedRecipient(k).setProvider(BC);
            }
            if (ri instanceof KeyAgreeRecipientInformation && ri.getRID().match(h)) {
                return new JceKeyAgreeEnvelopedRecipient(k).setProvider(BC);
            }
        }
        if (o.containsKey("--kek") && ri instanceof KEKRecipientInformation) {
            byte[] id = Hex.decode(o.getOrDefault("--kek-id", ""));
            if (id.length == 0 || ri.getRID().match(id)) {
                return new JceKEKEnvelopedRecipient(new SecretKeySpec(hexFile(Path.of(o.get("--kek"))), "AES"))
                        .setProvider(BC);
            }
        }
        if (o.containsKey("--password-file") && ri instanceof PasswordRecipientInformation) {
            return new JcePasswordEnvelopedRecipient(password(Path.of(o.get("--password-file"))))
                    .setPasswordConversionScheme(PasswordRecipient.PKCS5_SCHEME2_UTF8).setProvider(BC);
        }
        return null;
    }

    /** The DICOM file inside: signers verified with their included certificates, digests checked. */
    static byte[] innerContent(ASN1ObjectIdentifier type, byte[] plain) throws Exception {
        if (type.equals(CMSObjectIdentifiers.data)) {
            return plain;
        }
        if (type.equals(CMSObjectIdentifiers.digestedData)) {
            DigestedData dd = DigestedData.getInstance(ASN1Primitive.fromByteArray(plain));
            byte[] content = ASN1OctetString.getInstance(dd.getEncapContentInfo().getContent()).getOctets();
            MessageDigest md = MessageDigest.getInstance(dd.getDigestAlgorithm().getAlgorithm().getId(), BC);
            if (!MessageDigest.isEqual(md.digest(content), dd.getDigest())) {
                throw new IllegalStateException("DigestedData digest does not match");
            }
            return content;
        }
        if (type.equals(CMSObjectIdentifiers.signedData)) {
            CMSSignedData sd = new CMSSignedData(new ContentInfo(CMSObjectIdentifiers.signedData,
                    ASN1Primitive.fromByteArray(plain)));
            Collection<SignerInformation> signers = sd.getSignerInfos().getSigners();
            if (signers.isEmpty()) {
                throw new IllegalStateException("SignedData has no signer");
            }
            for (SignerInformation s : signers) {
                @SuppressWarnings("unchecked")
                Collection<X509CertificateHolder> cs = sd.getCertificates().getMatches(s.getSID());
                if (cs.isEmpty() || !s.verify(new JcaSimpleSignerInfoVerifierBuilder().setProvider(BC)
                        .build(cs.iterator().next()))) {
                    throw new IllegalStateException("inner signature does not verify");
                }
            }
            return (byte[]) sd.getSignedContent().getContent();
        }
        throw new IllegalStateException("unknown inner content type " + type);
    }
}
